/**
 * The optional per-ledger byte quota: a write that would take a ledger's
 * objects past it is refused with `QUOTA_EXCEEDED` (HTTP 413) before it is
 * stored, so the client stops pushing (and says why) instead of filling the
 * disk. Reads and deletes are never refused: deleting is how a ledger gets
 * back under its quota (the sync engine deletes the blocks of files nothing
 * refers to any more, `compact()`).
 *
 * Small writes (at most {@link SMALL_WRITE_BYTES}) may go past the quota by
 * up to {@link SMALL_WRITE_HEADROOM_BYTES}: a ledger at its quota can still
 * push the deletions (and their announcements) that make room, and read
 * its membership entries back; without that, the writes that free space
 * would be refused like the ones that fill it.
 *
 * Each ledger is measured once (the backend's `bytesOf`), then counted: a
 * put adds its body (an object put again counts again, so the count errs
 * high: a ledger may be refused a little early, never let past), and a
 * delete marks the ledger to be measured again at its next write. One
 * server instance counts its own writes; instances sharing a backend each
 * measure it, so the bound holds per instance.
 *
 * @module
 */
import { WireFailure } from "./failure.js";

/** Writes up to this size get the headroom (announcements, deletions, membership entries). */
export const SMALL_WRITE_BYTES = 64 * 1024;
/** How far small writes may go past the quota. */
export const SMALL_WRITE_HEADROOM_BYTES = 1024 * 1024;

/** Bytes a write holds against its ledger's quota while it runs. */
export interface Reservation {
  /** The write is stored with `bytes` (its actual size): counted for good. */
  stored(bytes: number): void;
  /** The write failed: nothing is counted. */
  cancel(): void;
}

/** See the module docs. */
export class LedgerQuota {
  /** Bytes counted per ledger (once measured). */
  readonly #used = new Map<string, number>();
  /** Measurements in progress. */
  readonly #measuring = new Map<string, Promise<number>>();
  /** Deletes seen per ledger: a measurement that a delete overtook is not kept. */
  readonly #deletes = new Map<string, number>();

  constructor(
    /** Largest number of bytes a ledger's objects may take. */
    readonly limitBytes: number,
    private readonly measure: (ledger: string) => Promise<number>,
  ) {}

  /**
   * Holds `bytes` (0 when the size is not known yet: a streamed body without
   * a length, counted once stored) of `ledger`'s quota for a write, so that
   * writes running at once cannot together pass it.
   * @throws WireFailure `QUOTA_EXCEEDED` if the write would take the ledger past the quota
   */
  async reserve(ledger: string, bytes: number): Promise<Reservation> {
    const used = await this.#usage(ledger);
    const limit = bytes > 0 && bytes <= SMALL_WRITE_BYTES ? this.limitBytes + SMALL_WRITE_HEADROOM_BYTES : this.limitBytes;
    if (used + bytes > limit) {
      throw new WireFailure("QUOTA_EXCEEDED", `ledger ${ledger} holds ${used} bytes of its quota of ${this.limitBytes} here, and this write adds ${bytes}`);
    }
    this.#add(ledger, bytes);
    let settled = false;
    return {
      stored: (actual) => {
        if (settled) return;
        settled = true;
        this.#add(ledger, actual - bytes);
      },
      cancel: () => {
        if (settled) return;
        settled = true;
        this.#add(ledger, -bytes);
      },
    };
  }

  /** A delete: the ledger is measured again at its next write. */
  deleted(ledger: string): void {
    this.#used.delete(ledger);
    this.#deletes.set(ledger, (this.#deletes.get(ledger) ?? 0) + 1);
  }

  #add(ledger: string, bytes: number): void {
    const used = this.#used.get(ledger);
    if (used !== undefined) this.#used.set(ledger, Math.max(0, used + bytes));
  }

  async #usage(ledger: string): Promise<number> {
    for (;;) {
      const known = this.#used.get(ledger);
      if (known !== undefined) return known;
      const deletes = this.#deletes.get(ledger) ?? 0;
      let measuring = this.#measuring.get(ledger);
      if (!measuring) {
        const started = this.measure(ledger);
        measuring = started.finally(() => {
          if (this.#measuring.get(ledger) === measuring) this.#measuring.delete(ledger);
        });
        this.#measuring.set(ledger, measuring);
      }
      const measured = await measuring;
      // A delete during the measurement may not be in it: measure again. (Writes counted
      // while it measured went to no entry: one racing the measure may be missed once.)
      if ((this.#deletes.get(ledger) ?? 0) !== deletes) {
        if (this.#measuring.get(ledger) === measuring) this.#measuring.delete(ledger);
        continue;
      }
      if (!this.#used.has(ledger)) this.#used.set(ledger, measured);
    }
  }
}
