/**
 * The per-document register kept in the state tree: the winning write and
 * the concurrent writes it beat (conflicts).
 *
 * Merge rule, applied per op in causal order: drop the writes the op
 * supersedes, add the op's write, and order what remains by
 * `(lamport, event CID)` descending. The first is the winner. Because the
 * remaining set is "the maximal writes to this document in the causal
 * order", it depends only on which events were applied, never on the
 * order they arrived in: that is what makes `root()` equal across replicas.
 *
 * Event references here are the CID's bytes, not CID links: the state tree
 * is read far more often than it is walked as IPLD, and decoding a CID
 * object per document made reading a tree node several times slower.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import type { DocBody } from "../doc/normalize.js";
import type { Op } from "./event.js";
import { compareBytes } from "../codec/block.js";
import { SlabCopier } from "../codec/slab.js";

/** One write to a document. */
export interface Write {
  /** Lamport of the event that made it. */
  readonly l: number;
  /** That event's CID, as bytes. */
  readonly e: Uint8Array;
  /** The body, or null for a deletion. */
  readonly d: DocBody | null;
}

/** The state of one document. */
export interface Register {
  /** The winning write. */
  readonly w: Write;
  /** Concurrent losing writes, best first; absent when there are none. */
  readonly c?: Write[];
}

/** Applies `op` from event `event` (lamport `lamport`) to `current`. */
export function applyOp(current: Register | undefined, op: Op, event: CID, lamport: number): Register {
  const incoming: Write = { l: lamport, e: eventRefs.copy(event.bytes), d: op.d };
  if (current === undefined) return { w: incoming };
  const superseded = new Set(op.s.map((c) => bytesKey(c.bytes)));
  superseded.add(bytesKey(event.bytes));
  const live = [current.w, ...(current.c ?? [])].filter((w) => !superseded.has(bytesKey(w.e)));
  live.push(incoming);
  live.sort(compareWrites);
  const [w, ...c] = live as [Write, ...Write[]];
  return c.length === 0 ? { w } : { w, c };
}

/** The writes an op on this document supersedes: everything currently live. */
export function liveEvents(current: Register | undefined): CID[] {
  if (current === undefined) return [];
  return [current.w, ...(current.c ?? [])].map((w) => CID.decode(w.e));
}

/** Best first: higher lamport, then higher event CID bytes. */
export function compareWrites(a: Write, b: Write): number {
  return b.l - a.l || compareBytes(b.e, a.e);
}

// Event references are copied into shared slabs: a register that kept the
// CID's own bytes would keep one ArrayBuffer alive per written document,
// which the garbage collector pays for on every young-generation pass.
const eventRefs = new SlabCopier(64 * 1024, 256);

function bytesKey(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
