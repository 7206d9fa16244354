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
 * put adds its body, and a delete marks the ledger to be measured again at
 * its next write. An object put again counts again, so the count errs
 * high; before it refuses a write that the bytes counted since the last
 * measurement could explain, the ledger is measured again (plus the writes
 * still in flight), so a client that uploads a block twice (a retry, a
 * resumed upload) is not refused for good on a phantom figure. One server
 * instance counts its own writes; instances sharing a backend each measure
 * it, so the bound holds per instance.
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

/** A ledger's bytes as last measured, plus what was counted since. */
interface Usage {
  /** Measured, plus writes counted since (stored and in flight). */
  bytes: number;
  /** Of {@link bytes}, those counted since the measurement: a figure that may hold objects twice. */
  counted: number;
}

/** See the module docs. */
export class LedgerQuota {
  /** Bytes per ledger (once measured). */
  readonly #used = new Map<string, Usage>();
  /** Bytes reserved by writes not stored yet, per ledger: not in a measurement, so added to one. */
  readonly #inFlight = new Map<string, number>();
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
    const limit = bytes > 0 && bytes <= SMALL_WRITE_BYTES ? this.limitBytes + SMALL_WRITE_HEADROOM_BYTES : this.limitBytes;
    let used = await this.#usage(ledger);
    if (used.bytes + bytes > limit && used.bytes - used.counted + bytes <= limit) {
      // Refused only because of what was counted since the measurement, which may
      // hold objects put twice: measure again before refusing.
      if (this.#used.get(ledger) === used) this.#used.delete(ledger);
      used = await this.#usage(ledger);
    }
    if (used.bytes + bytes > limit) {
      throw new WireFailure("QUOTA_EXCEEDED", `ledger ${ledger} holds ${used.bytes} bytes of its quota of ${this.limitBytes} here, and this write adds ${bytes}`);
    }
    this.#add(ledger, bytes);
    this.#inFlight.set(ledger, (this.#inFlight.get(ledger) ?? 0) + bytes);
    let settled = false;
    const settle = (counted: number): void => {
      if (settled) return;
      settled = true;
      const left = (this.#inFlight.get(ledger) ?? 0) - bytes;
      if (left > 0) this.#inFlight.set(ledger, left);
      else this.#inFlight.delete(ledger);
      this.#add(ledger, counted - bytes);
    };
    return { stored: (actual) => settle(actual), cancel: () => settle(0) };
  }

  /** A delete: the ledger is measured again at its next write. */
  deleted(ledger: string): void {
    this.#used.delete(ledger);
    this.#deletes.set(ledger, (this.#deletes.get(ledger) ?? 0) + 1);
  }

  #add(ledger: string, bytes: number): void {
    const used = this.#used.get(ledger);
    if (used === undefined) return;
    used.bytes = Math.max(0, used.bytes + bytes);
    used.counted = Math.min(used.bytes, Math.max(0, used.counted + bytes));
  }

  async #usage(ledger: string): Promise<Usage> {
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
      // Writes in flight are not in the measurement (or only in part): added whole. (Not
      // as counted: measuring again would not take them out.)
      const inFlight = this.#inFlight.get(ledger) ?? 0;
      if (!this.#used.has(ledger)) this.#used.set(ledger, { bytes: measured + inFlight, counted: 0 });
    }
  }
}
