/**
 * Names of everything the ledger keeps in its store, and of the entries of
 * its local (replica-specific) tree. One module, so the layout is visible
 * in one place.
 *
 * Store:
 * - `meta`             the last checkpoint ({@link Checkpoint})
 * - `ev/<cid>`         an event block (plaintext dag-cbor; the store encrypts)
 * - `nd/<cid>`         a tree node
 * - `log/<seq>`        an event applied after the checkpoint, keyed by its last
 *                      position, in order (value: its CID bytes)
 *
 * Positions (`seq`) count changes, not events: an event with n ops takes n
 * consecutive positions (at least one), so a change feed page can end in
 * the middle of a big commit and resume exactly there.
 *
 * Local tree (not part of the converged state; differs per replica):
 * - `q/<seq>` → event CID     the event whose last position is `seq`
 * - `e/<cid>` → seq           an event's last position (also: "have I got it?")
 * - `s/<seq>` → doc id        a document's latest change, in change order
 * - `i/<id>` → seq            the position of a document's latest change
 *
 * @module
 */
import type { CID } from "multiformats/cid";

export const META_KEY = "meta";
export const eventKey = (cid: CID | string): string => `ev/${cid.toString()}`;

/** Fixed-width base36, so string order is numeric order (up to 36^10 ≈ 3.6e15). */
export const seqText = (seq: number): string => seq.toString(36).padStart(10, "0");
export const logKey = (seq: number): string => `log/${seqText(seq)}`;
export const LOG_PREFIX = "log/";

export const local = {
  eventAt: (seq: number): string => `q/${seqText(seq)}`,
  seqOf: (cid: CID | string): string => `e/${cid.toString()}`,
  change: (seq: number): string => `s/${seqText(seq)}`,
  /** Upper bound (exclusive) of the change range. */
  CHANGE_END: "s0",
  lastChange: (id: string): string => `i/${id}`,
  /** The seq in a `s/<seq>` key. */
  seqOfChange: (key: string): number => parseInt(key.slice(2), 36),
};
