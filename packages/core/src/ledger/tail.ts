/**
 * The tail record (`tail`): what a close writes in place of a checkpoint
 * when few changes came since the last one and nothing else did. It holds
 * the overlays those changes made (each document's register, encoded, and
 * the local tree's entries), with the positions and heads they reached.
 *
 * Why: a checkpoint folds the overlays into the trees, and a few changes
 * at random places in a big tree rewrite a leaf each. A close after 100
 * `put`s into a million-document ledger took 190–330 ms, nearly all of it
 * that fold and its write. Leaving the changes to the next open instead
 * (their events are durable already) made that open replay them, and a
 * replay looks up each document's register: 120–140 ms of random reads
 * for 100–200 changes. The tail carries what the replay would compute, so
 * the next open reads one record and the close writes one (on the file
 * store, the close then writes only its key index's delta: ~25 ms in all).
 *
 * The events stay the truth: a tail is used only by the checkpoint it was
 * written after (`after`: its event count and position), and the open
 * replays any event past the tail as it does past a checkpoint (a session
 * that wrote more, then crashed). A release that does not know the record
 * replays every event after the checkpoint and gets the same state. The
 * next checkpoint deletes the tail in the same batch; one left by a
 * different checkpoint is ignored.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { decodeDagCbor, encodeDagCbor } from "../codec/cbor.js";
import { HearthError } from "../errors.js";

/** See the module docs. */
export interface Tail {
  readonly v: 1;
  /** The checkpoint this tail follows: its event count and position. */
  readonly after: { readonly events: number; readonly seq: number };
  /** Events applied, position, greatest lamport and heads once the tail's changes are in. */
  readonly events: number;
  readonly seq: number;
  readonly lamport: number;
  readonly heads: CID[];
  /** The state overlay: each document's register as its dag-cbor bytes. */
  readonly state: Array<[id: string, register: Uint8Array]>;
  /** The local overlay: each key's value, `null` for a deletion (no local value is `null`). */
  readonly local: Array<[key: string, value: unknown]>;
}

/** Encodes a tail for the `tail` record. */
export function encodeTail(tail: Tail): Uint8Array {
  return encodeDagCbor(tail);
}

/**
 * Decodes a `tail` record, or `undefined` for one of a later version (its
 * events are replayed instead).
 *
 * @throws HearthError `INTEGRITY` when the record is not a tail (the encryption layer authenticated it, so the store is damaged)
 */
export function decodeTail(bytes: Uint8Array): Tail | undefined {
  let value: Tail | undefined;
  try {
    value = decodeDagCbor<Tail>(bytes);
  } catch (cause) {
    throw new HearthError("INTEGRITY", "the ledger's tail record is not valid dag-cbor; the store is damaged", { cause });
  }
  if (value !== null && typeof value === "object" && typeof value.v === "number" && value.v > 1) return undefined;
  if (!isTail(value)) throw new HearthError("INTEGRITY", "the ledger's tail record is not a Hearth tail; the store is damaged or not a Hearth ledger");
  return value;
}

function isTail(t: Tail | undefined): t is Tail {
  const count = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  return (
    t !== null && typeof t === "object" && t.v === 1 &&
    t.after !== null && typeof t.after === "object" && count(t.after.events) && count(t.after.seq) &&
    count(t.events) && count(t.seq) && count(t.lamport) && t.events > t.after.events && t.seq > t.after.seq &&
    Array.isArray(t.heads) && t.heads.every((head) => CID.asCID(head) !== null) &&
    Array.isArray(t.state) && t.state.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && e[1] instanceof Uint8Array) &&
    Array.isArray(t.local) && t.local.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === "string")
  );
}
