/**
 * Event segments: how the ledger stores a run of checkpointed events as one
 * value instead of one sealed value each.
 *
 * Why: a lone event of a small `put` is ~160 bytes of dag-cbor, and sealing
 * it alone adds ~46 bytes of envelope plus ~20 of log framing; nothing
 * compresses it, and a third of it is its parent's CID, 32 random bytes.
 * In a segment, consecutive events share structure (field names, similar
 * documents) that deflate removes, and an event whose parent is the event
 * just before it in the segment (every commit of a lone writer) drops that
 * parent: the reader recomputes it by hashing the previous event. A segment
 * of the bench's events takes ~19 bytes per event on disk instead of ~220.
 *
 * ```
 * segment := 0x02 count entry{count}                 (varints: unsigned LEB128)
 * entry   := cut length byte{length}
 * cut     := 0                  the event's bytes are stored whole
 *          | 1 + offset         the previous entry's CID bytes (36 for
 *                               CIDv1/dag-cbor/sha-256) were cut out of the
 *                               event's bytes at `offset`
 * apart   := 0 0                (cut 0, length 0) the event is stored apart,
 *                               under its own `ev/<n>`; the entry after it
 *                               is stored whole
 * ```
 *
 * Format 1 (the first) is the same without apart entries; it is still read.
 *
 * Why events stored apart (format 2): a segment is for small events, which
 * share structure and cost more to seal alone than they weigh. A big one (a
 * `bulk` of a thousand documents is ~110 KB) compresses as well alone, and
 * packing it cost memory and time for nothing: a million-document load in
 * `bulk`s of 1,000 made segments of ~14 MB of plaintext, held whole with
 * the up to 16 MB of events kept for packing them, deflated in one
 * synchronous call during a checkpoint, and inflated whole by any read of
 * one old event (the log caches four decoded segments: ~56 MB). Such events
 * now stay in their own records (the log decides which:
 * {@link ./event-log}); a segment then holds at most 128 small events.
 * Measured (1M random-id `bulk` load, Node, peak RSS): see `event-log.ts`.
 *
 * Decoding puts the cut CID back, so the bytes read are exactly the event
 * block's bytes, and returns each event's CID computed from them: an event
 * is still addressed and verified by the hash of its bytes. The segment as
 * a whole is sealed (AES-GCM) and deflated by the encryption layer like any
 * value; a malformed segment is `INTEGRITY`.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { blockDigest } from "../codec/block.js";
import { HearthError } from "../errors.js";

/** The segment format this code writes (it reads this one and {@link FIRST_FORMAT}). */
const SEGMENT_FORMAT = 2;
/** The first format: no events stored apart. */
const FIRST_FORMAT = 1;

/**
 * Events decoded from a segment, in order, each with the CID of its bytes;
 * `undefined` in both for an event stored apart (under its own `ev/<n>`).
 */
export interface DecodedSegment {
  readonly bytes: Array<Uint8Array | undefined>;
  readonly cids: Array<CID | undefined>;
}

/** The CID of event bytes (a dag-cbor block over sha-256). */
export async function eventCid(bytes: Uint8Array): Promise<CID> {
  const digest = blockDigest(bytes);
  return CID.createV1(dagCbor.code, digest instanceof Promise ? await digest : digest);
}

/**
 * Encodes `events` (block bytes, in log order; `undefined` for one stored
 * apart) as one segment. `cids` are the bytes of their CIDs if the caller
 * has them (computed otherwise).
 */
export async function encodeSegment(events: ReadonlyArray<Uint8Array | undefined>, cids?: ReadonlyArray<Uint8Array | undefined>): Promise<Uint8Array> {
  const entries: Array<{ cut: number; head: Uint8Array; tail: Uint8Array }> = [];
  let size = 1 + varintLength(events.length);
  let previous: Uint8Array | undefined;
  for (let i = 0; i < events.length; i++) {
    const bytes = events[i];
    if (bytes === undefined) {
      entries.push({ cut: 0, head: APART, tail: APART });
      size += 2;
      previous = undefined;
      continue;
    }
    if (bytes.length === 0) throw new TypeError("an event's bytes cannot be empty");
    const at = previous === undefined ? -1 : indexOfParent(bytes, previous);
    const entry =
      at < 0
        ? { cut: 0, head: bytes, tail: bytes.subarray(bytes.length) }
        : { cut: at + 1, head: bytes.subarray(0, at), tail: bytes.subarray(at + previous!.length) };
    const length = entry.head.length + entry.tail.length;
    size += varintLength(entry.cut) + varintLength(length) + length;
    entries.push(entry);
    previous = cids?.[i] ?? (await eventCid(bytes)).bytes;
  }
  const out = new Uint8Array(size);
  out[0] = SEGMENT_FORMAT;
  let pos = writeVarint(out, 1, events.length);
  for (const { cut, head, tail } of entries) {
    pos = writeVarint(out, pos, cut);
    pos = writeVarint(out, pos, head.length + tail.length);
    out.set(head, pos);
    out.set(tail, pos + head.length);
    pos += head.length + tail.length;
  }
  return out;
}

/**
 * Decodes a segment made by {@link encodeSegment}.
 * @throws HearthError `INTEGRITY` if it is malformed or of an unknown format (`where` names it).
 */
export async function decodeSegment(segment: Uint8Array, where: string): Promise<DecodedSegment> {
  const bad = (why: string): never => {
    throw new HearthError("INTEGRITY", `${where} is not a valid event segment (${why}); restore the store from a replica or backup`);
  };
  const format = segment[0];
  if (format !== SEGMENT_FORMAT && format !== FIRST_FORMAT) bad(`unknown format ${String(format)}; a newer Hearth may have written it`);
  const reader = { pos: 1 };
  const count = readVarint(segment, reader) ?? bad("truncated count");
  const bytes: Array<Uint8Array | undefined> = [];
  const cids: Array<CID | undefined> = [];
  for (let i = 0; i < count; i++) {
    const cut = readVarint(segment, reader) ?? bad("truncated entry");
    const length = readVarint(segment, reader) ?? bad("truncated entry");
    if (length === 0) {
      if (cut !== 0 || format === FIRST_FORMAT) bad("an empty event");
      bytes.push(undefined);
      cids.push(undefined);
      continue;
    }
    const end = reader.pos + length;
    if (end > segment.length) bad("entry runs past the end");
    const stored = segment.subarray(reader.pos, end);
    reader.pos = end;
    let event: Uint8Array;
    if (cut === 0) {
      event = stored.slice();
    } else {
      const previous = cids[i - 1]?.bytes ?? bad("an entry refers to a previous event there is not (the first, or one stored apart)");
      const at = cut - 1;
      if (at > stored.length) bad("cut offset past the entry");
      event = new Uint8Array(stored.length + previous.length);
      event.set(stored.subarray(0, at), 0);
      event.set(previous, at);
      event.set(stored.subarray(at), at + previous.length);
    }
    bytes.push(event);
    cids.push(await eventCid(event));
  }
  if (reader.pos !== segment.length) bad("bytes after the last entry");
  return { bytes, cids };
}

/** What an entry of an event stored apart holds. */
const APART = new Uint8Array(0);

/**
 * Where `cid` (bytes) occurs in `event`, or -1. A lone parent sits just
 * before the closing `"v": 1` (dag-cbor orders the keys `l o p v`), so that
 * spot is tried first; any other occurrence is found by a backward scan.
 */
function indexOfParent(event: Uint8Array, cid: Uint8Array): number {
  const usual = event.length - 3 - cid.length;
  if (usual >= 0 && occursAt(event, cid, usual)) return usual;
  for (let i = event.length - cid.length; i >= 0; i--) if (occursAt(event, cid, i)) return i;
  return -1;
}

function occursAt(haystack: Uint8Array, needle: Uint8Array, at: number): boolean {
  for (let j = 0; j < needle.length; j++) if (haystack[at + j] !== needle[j]) return false;
  return true;
}

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    length++;
  }
  return length;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[pos++] = n;
  return pos;
}

/** An unsigned LEB128 at `reader.pos` (advanced past it), or undefined if truncated or over 2^53. */
function readVarint(bytes: Uint8Array, reader: { pos: number }): number | undefined {
  let n = 0;
  let scale = 1;
  for (let pos = reader.pos; pos < bytes.length && scale <= 2 ** 49; pos++) {
    const byte = bytes[pos]!;
    n += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      reader.pos = pos + 1;
      return n;
    }
    scale *= 0x80;
  }
  return undefined;
}
