/**
 * Waiting for a store that another holder has open: the `wait` option of
 * `open` and of the stores, checked once and turned into a plan that
 * every kind of lock (the in-process table, the file store's kernel lock,
 * the browser's Web Locks) follows the same way.
 *
 * Without `wait`, a held store is `LOCKED` at once. With `wait: true` the
 * open waits until the store is free, for as long as it takes (the caller
 * asked for it: a second tab that takes over when the first closes). With
 * `{ timeoutMs, signal }` it gives up with `LOCKED` at the deadline or when
 * the signal aborts.
 *
 * Portable.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/** The `wait` option: `true` (wait for as long as it takes), or limits on the wait. */
export type LockWait = boolean | { readonly timeoutMs?: number; readonly signal?: AbortSignal };

/** A checked {@link LockWait}: how long an open may wait for a held store. */
export interface WaitPlan {
  /** Aborts when the caller's signal does or the deadline passes; absent for an unlimited wait. */
  readonly signal?: AbortSignal;
  /** When the wait started (`performance.now()`), for messages. */
  readonly startedAt: number;
}

/**
 * Checks `wait` and plans it; `undefined` means "do not wait".
 *
 * @throws TypeError for a value of the wrong type; HearthError
 *   `INVALID_ARGUMENT` for a negative or non-finite `timeoutMs`.
 */
export function planWait(wait: LockWait | undefined): WaitPlan | undefined {
  if (wait === undefined || wait === false) return undefined;
  const startedAt = performance.now();
  if (wait === true) return { startedAt };
  if (wait === null || typeof wait !== "object") throw new TypeError(`wait must be a boolean or { timeoutMs?, signal? }, got ${typeof wait}`);
  const { timeoutMs, signal } = wait;
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0)) {
    throw new HearthError("INVALID_ARGUMENT", `wait.timeoutMs must be a non-negative number of milliseconds, got ${String(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("wait.signal must be an AbortSignal");
  const signals = [...(signal ? [signal] : []), ...(timeoutMs !== undefined ? [AbortSignal.timeout(timeoutMs)] : [])];
  if (signals.length === 0) return { startedAt };
  return { startedAt, signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) };
}

/** Milliseconds since the wait of `plan` started. */
export function waitedMs(plan: WaitPlan): number {
  return performance.now() - plan.startedAt;
}

/**
 * Resolves when `released` does; rejects with `locked()` if the plan's
 * signal aborts first (the deadline passed or the caller gave up).
 */
export function waitUntil(released: Promise<unknown>, plan: WaitPlan, locked: () => HearthError): Promise<void> {
  const { signal } = plan;
  if (!signal) return released.then(() => undefined);
  if (signal.aborted) return Promise.reject(withAbortCause(locked(), signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(withAbortCause(locked(), signal));
    signal.addEventListener("abort", onAbort, { once: true });
    released.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Poll intervals while waiting: short at first (a holder closing now is seen at once), then at most this. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 100;

/**
 * Calls `attempt` until it returns something other than `undefined`,
 * sleeping between tries (5 ms growing to 100 ms), for locks that cannot
 * notify their release (the kernel's file locks, short of blocking a
 * thread). Rejects with `locked()` when the plan's signal aborts.
 */
export async function pollUntil<T>(attempt: () => Promise<T | undefined>, plan: WaitPlan, locked: () => HearthError): Promise<T> {
  let interval = POLL_FIRST_MS;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    await waitUntil(new Promise((resolve) => setTimeout(resolve, interval)), plan, locked);
    interval = Math.min(POLL_MAX_MS, interval * 2);
  }
}

function withAbortCause(err: HearthError, signal: AbortSignal): HearthError {
  return new HearthError(err.code, err.message, { cause: signal.reason });
}
