/**
 * Waiting for a condition with a deadline, never a blind sleep: tests that
 * "wait for sync" by sleeping are slow when the machine is idle and flaky
 * when it is busy (Fireproof's sync tests did exactly that).
 *
 * @module
 */

/** Options for {@link eventually}. */
export interface EventuallyOptions {
  /** Give up after this long (default 5 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 10 ms); short, since each attempt is the real check. */
  intervalMs?: number;
  /** Names the condition in the timeout error. */
  what?: string;
}

/**
 * Retries `fn` until it returns without throwing, then resolves with its
 * result. If the deadline passes, rejects with the last error as `cause`,
 * so the failure shows why the condition never held.
 *
 * @example
 * ```ts
 * await eventually(async () => expect(await b.get("x")).toMatchObject({ v: 1 }), { timeoutMs: 2000 });
 * ```
 */
export async function eventually<T>(fn: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<T> {
  const { timeoutMs = 5000, intervalMs = 10, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new Error(`${what} did not hold within ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves with `promise`, or rejects after `ms` naming `what`: every wait
 * on a child process or an event in the tests has a deadline.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
