/**
 * An independent view of a ledger's Merkle clock, read through
 * `eventBlock`, so tests can say what the merge *should* produce from
 * causality alone (which writes are in whose past) rather than trusting the
 * code under test to say it.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import type { Ledger } from "../../src/ledger/ledger.js";

/** One event as the graph sees it. */
export interface GraphEvent {
  readonly cid: string;
  readonly parents: readonly string[];
  readonly lamport: number;
}

/** Every event reachable from a ledger's heads, with ancestor queries. */
export class EventGraph {
  readonly events = new Map<string, GraphEvent>();
  readonly #ancestors = new Map<string, Set<string>>();

  /** Reads the whole clock of `ledger`, walking back from its heads. */
  static async of(ledger: Ledger): Promise<EventGraph> {
    const graph = new EventGraph();
    const stack = [...ledger.heads()];
    while (stack.length > 0) {
      const cid = stack.pop()!;
      if (graph.events.has(cid)) continue;
      const block = await ledger.eventBlock(cid);
      const value = dagCbor.decode<{ l: number }>(block.bytes);
      graph.events.set(cid, { cid, parents: block.parents, lamport: value.l });
      stack.push(...block.parents);
    }
    return graph;
  }

  /** Strict ancestors of `cid` (memoized; the graphs in tests are small). */
  ancestors(cid: string): Set<string> {
    const known = this.#ancestors.get(cid);
    if (known) return known;
    const event = this.events.get(cid);
    if (!event) throw new Error(`event ${cid} is not in the graph`);
    const out = new Set<string>();
    for (const parent of event.parents) {
      out.add(parent);
      for (const a of this.ancestors(parent)) out.add(a);
    }
    this.#ancestors.set(cid, out);
    return out;
  }

  /** True if `a` is in the causal past of `b`. */
  happenedBefore(a: string, b: string): boolean {
    return this.ancestors(b).has(a);
  }

  /** The lamport rule, checked independently: 1 + the greatest parent lamport. */
  expectedLamport(cid: string): number {
    const event = this.events.get(cid)!;
    return 1 + Math.max(0, ...event.parents.map((p) => this.events.get(p)!.lamport));
  }

  /**
   * Orders events best first, as the merge must: higher lamport, then
   * higher CID bytes.
   */
  compareBestFirst(a: string, b: string): number {
    const la = this.events.get(a)!.lamport;
    const lb = this.events.get(b)!.lamport;
    if (la !== lb) return lb - la;
    const x = CID.parse(a).bytes;
    const y = CID.parse(b).bytes;
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
    return y.length - x.length;
  }
}
