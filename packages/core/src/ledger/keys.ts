/**
 * Names of everything the ledger keeps in its store, and of the entries of
 * its local (replica-specific) tree. One module, so the layout is visible
 * in one place.
 *
 * Store:
 * - `meta`             the last checkpoint ({@link Checkpoint})
 * - `tail`             what a close after a few changes wrote instead of a
 *                      checkpoint: the overlays they made ({@link ./tail})
 * - `ev/<n>`           the n-th event applied here (1, 2, 3, …), as its block
 *                      bytes (dag-cbor; the store encrypts; the CID is the
 *                      hash of these bytes, recomputed on read)
 * - `sg/<n>`           events n … n + 127 packed into one segment at a
 *                      checkpoint, replacing their `ev/<n>` records, except
 *                      those of big events, which it marks as stored apart
 *                      ({@link ./event-log}, {@link ./event-segment})
 * - `nd/<cid>`         a tree node
 * - `kf/<n>`           a stage of a key filter: a Bloom filter of the keys
 *                      a tree holds while it takes runs ({@link ./key-filter})
 * - `in/<cid>`         marks an applied event as inert: in the history, but
 *                      its ops change nothing (a write its sync point's
 *                      membership refuses; see `LedgerState.apply`)
 * - `xs/<run>/<block>` sorted rows of an index build in progress, spilled
 *                      to the store ({@link ./spill-sort}); deleted when
 *                      the build ends, or by the next build after a crash
 *
 * - `fb/<cid>`, `fr/<cid>`, `fw/<cid>`, `fs`  files: blocks, files held
 *                      whole, files wanted, the chunk-key secret
 *                      ({@link ../files/ledger-files})
 * - `sy/<point>/…`     each attachment's bookkeeping ({@link ../sync/layout})
 *
 * Events are written once, under consecutive numbers, so a commit is one
 * record, and reopening replays `ev/<n+1>`, `ev/<n+2>`, … after the
 * checkpoint's `n` until one is missing. (An earlier layout kept
 * `ev/<cid>` plus a `log/<seq>` pointer per commit: two sealed values per
 * commit, and a dead log record per commit after each checkpoint.)
 *
 * Positions (`seq`) count changes, not events: an event with n ops takes n
 * consecutive positions (at least one), so a change feed page can end in
 * the middle of a big commit and resume exactly there.
 *
 * Local tree (not part of the converged state; differs per replica):
 * - `e/<cid>` → [n, seq]      an event's number and last position (also: "have I got it?")
 * - `s/<seq>` → doc id        a document's latest change, in change order
 * - `i/<id>` → seq            the position of a document's latest change
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { cidText } from "../codec/cid-text.js";

/** Store key of the checkpoint record. */
export const META_KEY = "meta";

/** Store key of the tail record ({@link ./tail}). */
export const TAIL_KEY = "tail";

/** Fixed-width base36, so string order is numeric order (up to 36^10 ≈ 3.6e15). */
export const seqText = (seq: number): string => seq.toString(36).padStart(10, "0");

/** Store key of the `n`-th event applied here. */
export const eventKey = (n: number): string => `ev/${seqText(n)}`;

/** Store key of the segment whose first event is number `first`. */
export const segmentKey = (first: number): string => `sg/${seqText(first)}`;

/** Store key of key filter stage record `n` ({@link ./key-filter}). */
export const keyFilterKey = (n: number): string => `kf/${seqText(n)}`;

/** Store key marking event `cid` inert. */
export const inertKey = (cid: CID): string => `in/${cidText(cid)}`;
/** Prefix of the inert marks. */
export const INERT_PREFIX = "in/";

/** Keys of the local tree. */
export const local = {
  event: (cid: CID | string): string => `e/${typeof cid === "string" ? cid : cidText(cid)}`,
  change: (seq: number): string => `s/${seqText(seq)}`,
  /** Upper bound (exclusive) of the change range. */
  CHANGE_END: "s0",
  lastChange: (id: string): string => `i/${id}`,
  /**
   * Whether `key` is ever looked up on its own, so a key filter of the
   * tree should hold it: the change feed's `s/<seq>` entries are only read
   * in ranges (and sort after every other entry, from `s/` on).
   */
  lookedUp: (key: string): boolean => !key.startsWith("s/"),
  /** Where the change feed's entries begin: every key a key filter holds sorts before. */
  CHANGE_START: "s/",
  /** The seq in a `s/<seq>` key. */
  seqOfChange: (key: string): number => parseInt(key.slice(2), 36),
};
