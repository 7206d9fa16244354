/**
 * Change detection for a store with no push: list the watched prefix every
 * `pollMs` and compare each name's version (ETag, time, size) with the
 * previous listing. S3 event notifications would need a queue and bucket
 * configuration per sync point; polling needs nothing but `ListBucket`.
 *
 * @module
 */
import type { S3Entry } from "./objects.js";

/** Name → version. */
type Snapshot = Map<string, string>;

function snapshotOf(entries: readonly S3Entry[]): Snapshot {
  return new Map(entries.map((e) => [e.name, e.version]));
}

function same(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [name, version] of a) if (b.get(name) !== version) return false;
  return true;
}

/**
 * Watches one prefix by polling `listEntries`. Calls `onChange` (in a
 * microtask, never re-entrantly, never after {@link PollWatch.stop}) when a
 * listing differs from the previous one, and when {@link PollWatch.kick}
 * says this client itself wrote.
 *
 * The first listing cannot finish before `watch` returns, so a change made
 * in between would be folded into the baseline: hence a non-empty baseline
 * is reported once (a spurious call is allowed, a missed change is not).
 * A failed listing keeps the old snapshot; the next poll tries again.
 */
export class PollWatch {
  private snapshot: Snapshot | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private polling = false;
  private stopped = false;

  constructor(
    readonly prefix: string,
    private readonly listEntries: (prefix: string) => Promise<S3Entry[]>,
    private readonly onChange: () => void,
    private readonly pollMs: number,
  ) {
    void this.poll();
  }

  /** Reports a change now (this client wrote a name under the prefix). */
  kick(): void {
    this.notify();
  }

  /** Stops polling; no call is made after this returns. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.polling) return;
    this.polling = true;
    try {
      const next = snapshotOf(await this.listEntries(this.prefix));
      if (this.stopped) return;
      const previous = this.snapshot;
      this.snapshot = next;
      if (previous === undefined ? next.size > 0 : !same(previous, next)) this.notify();
    } catch {
      // Unreachable or throttled: the engine's own retries report trouble;
      // the next poll compares against the last good listing.
    } finally {
      this.polling = false;
      if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.pollMs);
    }
  }

  private notify(): void {
    queueMicrotask(() => {
      if (!this.stopped) this.onChange();
    });
  }
}
