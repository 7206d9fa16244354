/**
 * The lamport rule, checked at ingest: an event's lamport is exactly one
 * more than the greatest of its parents' (1 for an event with none).
 *
 * Why exactly, not "at least": with a floor only, one event of lamport
 * 2^53 − 1 from any key holder would make every later write's lamport
 * unrepresentable, cutting off the replica that merged it (and, by
 * "greatest lamport wins", an inflated lamport wins every conflict). With
 * the exact rule a lamport is the length of the longest causal chain below
 * the event, which nobody can inflate without writing that chain.
 *
 * Local writes satisfy it by construction: their parents are the heads,
 * and the greatest lamport applied is always a head's.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { HearthError } from "../errors.js";
import type { EventBlock } from "../crdt/event.js";

/** Slots of recently applied lamports kept in memory (a power of two): a merged event's parents are almost always among them. */
const RECENT_SLOTS = 8192;

/**
 * Lamports of applied events, from memory or, for older ones, from the
 * event log. Memory is a direct-mapped table of {@link RECENT_SLOTS} slots,
 * indexed by the last bytes of each CID's digest: remembering a write is
 * two array stores (no CID text, no map upkeep on the write path), and a
 * slot another event took over only sends that lookup to the log.
 */
export class LamportBook {
  readonly #cids: Array<CID | undefined> = new Array<CID | undefined>(RECENT_SLOTS);
  readonly #lamports = new Float64Array(RECENT_SLOTS);

  /** @param lookup - the lamport of an applied event older than what is kept, `undefined` if it is not applied */
  constructor(private readonly lookup: (cid: CID) => Promise<number | undefined>) {}

  /** Notes that `event` was applied. */
  remember(event: EventBlock): void {
    const slot = slotOf(event.cid);
    this.#cids[slot] = event.cid;
    this.#lamports[slot] = event.value.l;
  }

  /** The lamport of applied event `cid`; `undefined` if it is not applied. */
  async of(cid: CID): Promise<number | undefined> {
    const slot = slotOf(cid);
    return this.#cids[slot]?.equals(cid) === true ? this.#lamports[slot] : this.lookup(cid);
  }

  /**
   * `undefined` when `event` follows the rule given its parents' lamports
   * (from `pending`, events about to be applied before it, or applied ones);
   * otherwise the `INTEGRITY` error that refuses it.
   */
  async violation(event: EventBlock, pending: ReadonlyMap<string, EventBlock>): Promise<HearthError | undefined> {
    let greatest = 0;
    for (const parent of event.value.p) {
      const lamport = pending.get(parent.toString())?.value.l ?? (await this.of(parent));
      if (lamport === undefined) return new HearthError("INTEGRITY", `event ${event.cid} was checked before its parent ${parent}`);
      greatest = Math.max(greatest, lamport);
    }
    if (event.value.l === greatest + 1) return undefined;
    return new HearthError(
      "INTEGRITY",
      `event ${event.cid} has lamport ${event.value.l}, but its parents' greatest is ${greatest}: an event's lamport is exactly one more. ` +
        `Its writer is faulty or hostile; the event (and whatever builds on it) was not merged`,
    );
  }
}

/** The slot of `cid`: the last bytes of its digest (uniformly random), masked. */
function slotOf(cid: CID): number {
  const digest = cid.multihash.digest;
  return ((digest[digest.length - 2]! << 8) | digest[digest.length - 1]!) & (RECENT_SLOTS - 1);
}
