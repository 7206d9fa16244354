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

/** Recently applied lamports kept in memory: a merged event's parents are almost always among them. */
const RECENT_LIMIT = 8192;

/** Lamports of applied events, from memory or, for older ones, from the event log. */
export class LamportBook {
  readonly #recent = new Map<string, number>();

  /** @param lookup - the lamport of an applied event older than what is kept, `undefined` if it is not applied */
  constructor(private readonly lookup: (cid: CID) => Promise<number | undefined>) {}

  /** Notes that `event` was applied. */
  remember(event: EventBlock): void {
    const key = event.cid.toString();
    this.#recent.delete(key);
    this.#recent.set(key, event.value.l);
    if (this.#recent.size > RECENT_LIMIT) this.#recent.delete(this.#recent.keys().next().value as string);
  }

  /** The lamport of applied event `cid`; `undefined` if it is not applied. */
  async of(cid: CID): Promise<number | undefined> {
    return this.#recent.get(cid.toString()) ?? this.lookup(cid);
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
