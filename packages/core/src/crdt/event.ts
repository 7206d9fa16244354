/**
 * Events: the nodes of the Merkle clock. One commit is one event; its
 * parents are the heads the writer had seen, its lamport is one more than
 * the greatest lamport the writer had seen, and its ops set or delete
 * documents.
 *
 * Each op also names the writes it supersedes (`s`): the winner and
 * conflicts the writer saw for that document. With events applied in causal
 * order (parents first), that is exactly what is needed to keep the set of
 * concurrent writes per document — the conflicts — identical on every
 * replica, without ever walking history.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import * as dagCbor from "@ipld/dag-cbor";
import { blockDigest, encodeBlockNow, decodeBlock, type Block } from "../codec/block.js";
import { HearthError } from "../errors.js";
import type { DocBody } from "../doc/normalize.js";
import { compareBytes } from "../codec/block.js";

/** Sets (`d` a body) or deletes (`d` null) one document. */
export interface Op {
  /** Document id. */
  readonly i: string;
  /** The new body, or null for a tombstone. */
  readonly d: DocBody | null;
  /** Events whose writes to this document this op supersedes. */
  readonly s: CID[];
}

/** An event as encoded in its dag-cbor block. */
export interface EventValue {
  readonly v: 1;
  /**
   * Its author: the fingerprint (16 bytes) of the device that wrote it.
   * Part of the event's bytes, so of its CID: a sync point's members accept
   * it only from that device's signed statement, and a removal judges it by
   * its author (see `sync/statement.ts`).
   */
  readonly a: Uint8Array;
  /** Parent events (the writer's heads), sorted by CID bytes. */
  readonly p: CID[];
  /** Lamport timestamp: 1 + the greatest lamport the writer had seen. */
  readonly l: number;
  /** Ops, sorted by document id, one per id. */
  readonly o: Op[];
}

/** An event block. */
export type EventBlock = Block<EventValue>;

/** Bytes of an author fingerprint in an event. */
export const AUTHOR_BYTES = 16;

/** Builds and encodes an event by `author` (its device fingerprint's 16 bytes); ops are sorted by id, parents by CID. */
export async function createEvent(parents: CID[], lamport: number, ops: Op[], author: Uint8Array): Promise<EventBlock> {
  const value: EventValue = {
    v: 1,
    a: author,
    p: sortedCopy(parents, compareCids),
    l: lamport,
    o: sortedCopy(ops, (a, b) => (a.i < b.i ? -1 : a.i > b.i ? 1 : 0)),
  };
  return encodeBlockNow(value);
}

/** A sorted copy; a single item is not sorted (Array.prototype.sort allocates even for one). */
function sortedCopy<T>(items: readonly T[], compare: (a: T, b: T) => number): T[] {
  return items.length < 2 ? [...items] : [...items].sort(compare);
}

/**
 * The author of encoded event `bytes` (its fingerprint's 16 bytes), read
 * without decoding the whole event: canonical dag-cbor puts the `a` field
 * first. Falls back to a full decode for anything else.
 */
export function eventAuthor(bytes: Uint8Array): Uint8Array | undefined {
  // a5 (map of 5) 61 61 ("a") 50 (16 bytes follow)
  if (bytes[0] === 0xa5 && bytes[1] === 0x61 && bytes[2] === 0x61 && bytes[3] === 0x50 && bytes.length >= 20) return bytes.subarray(4, 20);
  try {
    const value = dagCbor.decode(bytes) as { a?: unknown };
    return value.a instanceof Uint8Array && value.a.length === AUTHOR_BYTES ? value.a : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decodes and validates an event block received from elsewhere.
 * @throws HearthError `INTEGRITY` if the bytes do not match `cid` or are not a well-formed event.
 */
export async function readEvent(cid: CID, bytes: Uint8Array): Promise<EventBlock> {
  const block = await decodeBlock<unknown>(cid, bytes);
  checkEventShape(cid, block.value);
  return block as EventBlock;
}

/**
 * Decodes and validates event bytes whose CID is not known yet (it is
 * computed from the bytes, so it is right by construction).
 * @throws HearthError `INTEGRITY` if they are not a well-formed event.
 */
export async function readEventBytes(bytes: Uint8Array): Promise<EventBlock> {
  const cid = CID.createV1(dagCbor.code, await blockDigest(bytes));
  return readEvent(cid, bytes);
}

function checkEventShape(cid: CID, value: unknown): asserts value is EventValue {
  const bad = (why: string): never => {
    throw new HearthError("INTEGRITY", `event ${cid} is malformed (${why}); it was not merged`);
  };
  if (typeof value !== "object" || value === null) bad("not a map");
  const e = value as Record<string, unknown>;
  if (e.v !== 1) bad(`unknown version ${String(e.v)}`);
  if (!(e.a instanceof Uint8Array) || e.a.length !== AUTHOR_BYTES) bad("author is not a device fingerprint");
  if (!Array.isArray(e.p) || !e.p.every((p) => CID.asCID(p) !== null)) bad("parents are not CIDs");
  if (typeof e.l !== "number" || !Number.isSafeInteger(e.l) || e.l < 1) bad("lamport is not a positive integer");
  if (!Array.isArray(e.o)) bad("ops are not a list");
  let previous: string | undefined;
  for (const op of e.o as unknown[]) {
    if (typeof op !== "object" || op === null) bad("op is not a map");
    const { i, d, s } = op as Record<string, unknown>;
    if (typeof i !== "string" || i.length === 0) bad("op id is not a string");
    if (previous !== undefined && !(previous < (i as string))) bad("ops are not sorted by unique id");
    previous = i as string;
    if (d !== null && (typeof d !== "object" || Array.isArray(d))) bad(`op ${String(i)} body is not a map`);
    if (!Array.isArray(s) || !s.every((x) => CID.asCID(x) !== null)) bad(`op ${String(i)} supersedes are not CIDs`);
  }
}

/** Orders CIDs by their bytes; the tie-break for concurrent writes. */
export function compareCids(a: CID, b: CID): number {
  return compareBytes(a.bytes, b.bytes);
}
