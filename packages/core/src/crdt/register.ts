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
import { decodeMapInto, skipDagCbor } from "../codec/cbor.js";
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

/**
 * What a whole-ledger read takes from a register's bytes: the winning
 * write's document as `{ _id: id, ...body }` (or `null` for a deletion),
 * and where the register ends (a `ValueReader`'s answer, so a leaf can hand
 * it on as it is). Read straight from the bytes: the register
 * and write objects, the event reference's copy and the document's second
 * object (`{ _id, ...body }`) are never made, which was about a third of
 * reading a register (Node 20, 100,000 bench registers).
 *
 * `undefined` when the bytes are not laid out as a register written by
 * this code (`{c?, w: {d, e, l}}` in dag-cbor's canonical order) or the
 * fast path leaves something to the generic decoder: the caller then
 * decodes the register the generic way, which also reports damage.
 */
export function readRegisterDoc(bytes: Uint8Array, offset: number, id: string): { readonly value: Record<string, unknown> | null; readonly end: number } | undefined {
  try {
    let at = offset;
    const head = bytes[at++];
    if (head === 0xa2) {
      // Conflicts ("c", an array), which a read of the document skips.
      if (bytes[at] !== 0x61 || bytes[at + 1] !== 0x63 || bytes[at + 2]! >> 5 !== 4) return undefined;
      at = skipDagCbor(bytes, at + 2);
    } else if (head !== 0xa1) return undefined;
    // "w": a map of three, its first key "d".
    if (bytes[at] !== 0x61 || bytes[at + 1] !== 0x77 || bytes[at + 2] !== 0xa3 || bytes[at + 3] !== 0x61 || bytes[at + 4] !== 0x64) return undefined;
    at += 5;
    let doc: Record<string, unknown> | null;
    if (bytes[at] === 0xf6) {
      doc = null;
      at += 1;
    } else {
      doc = { _id: id };
      const end = decodeMapInto(bytes, at, doc);
      if (end === undefined) return undefined;
      at = end;
    }
    // "e" (bytes) and "l" (an unsigned integer), skipped: checked to be canonical items of their kind.
    if (bytes[at] !== 0x61 || bytes[at + 1] !== 0x65 || bytes[at + 2]! >> 5 !== 2) return undefined;
    at = skipDagCbor(bytes, at + 2);
    if (bytes[at] !== 0x61 || bytes[at + 1] !== 0x6c || bytes[at + 2]! >> 5 !== 0) return undefined;
    at = skipDagCbor(bytes, at + 2);
    return at > bytes.length ? undefined : { value: doc, end: at };
  } catch {
    return undefined;
  }
}
