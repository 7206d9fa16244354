/**
 * The on-disk format of the file store's append-only log, in one place so
 * the writer, the open-time scanner and compaction cannot disagree.
 *
 * ```
 * file   := MAGIC record*
 * record := u32 crc | u32 payloadLength | payload          (little endian)
 * crc    := crc32(payloadLength bytes ++ payload)
 * payload:= op+            (all deletes of the batch first, then all puts)
 * op     := 0x01 u16 keyLength key                          (delete)
 *         | 0x02 u16 keyLength key u32 valueLength value    (put)
 * ```
 *
 * One record is one `write(batch)`, so a batch is atomic: at open a record
 * whose frame runs past the end of the file or whose CRC does not match is
 * a torn tail and is cut off, provided nothing valid follows it. If a
 * complete valid record does follow, the damage is in the middle of the log
 * (a bit flip, a bad sector) and cutting there would silently drop
 * acknowledged batches, so the open is refused instead ({@link ./file-log}).
 * Covering the length by the CRC and refusing empty payloads means a run of
 * zero bytes (what a filesystem may leave after a power loss) never parses
 * as a record.
 *
 * A damaged *last* record cannot be told from a torn write: a power loss can
 * leave a record's full length on disk with wrong bytes in it (the file
 * grew before its data reached the disk), which is exactly what a flipped
 * byte in the last record looks like. It is therefore dropped as a torn
 * tail, together with the batch it carried; everything before it is kept.
 *
 * Node-only (uses `node:zlib` through {@link ./file-crc}).
 *
 * @module
 */
import { crc32 } from "./file-crc.js";
import { MAX_KEY_LENGTH, type WriteBatch } from "./types.js";

/** First bytes of every log file: names the format and its version. */
export const LOG_MAGIC = Buffer.from("HEARTHLOG\x00v1\x00\x00\x00\x00", "latin1");
/** Bytes before each record's payload: CRC and length. */
export const FRAME_HEADER_BYTES = 8;
/** Bytes an op costs besides its key (tag + key length). */
const DEL_OP_OVERHEAD = 3;
/** Bytes a put costs besides its key and value (tag + key length + value length). */
export const PUT_OP_OVERHEAD = 7;
/** Largest payload one record may carry (the u32 length field). */
export const MAX_PAYLOAD_BYTES = 0xffff_ffff;

const OP_DEL = 1;
const OP_PUT = 2;

/** Where one put's value landed, relative to the start of its record. */
export interface EncodedPut {
  readonly key: string;
  /** Offset of the value bytes from the first byte of the record (frame header included). */
  readonly valueOffset: number;
  readonly valueLength: number;
}

/** A batch encoded as one record, plus what the in-memory index needs to apply it. */
export interface EncodedRecord {
  readonly bytes: Buffer;
  readonly dels: ReadonlyArray<string>;
  readonly puts: ReadonlyArray<EncodedPut>;
}

/** The bytes one live put occupies in a payload; compaction's and the dead-byte count's unit. */
export function putOpBytes(key: string, valueLength: number): number {
  return PUT_OP_OVERHEAD + key.length + valueLength;
}

/**
 * Encodes `batch` as one record. Values are copied into the record, which
 * is also what makes the store's "copied on the way in" promise hold.
 * Keys must already be validated (printable ASCII, so one byte per char).
 */
export function encodeRecord(batch: WriteBatch): EncodedRecord {
  const dels = batch.del ?? [];
  const putPairs = batch.put ?? [];
  let size = 0;
  for (const key of dels) size += DEL_OP_OVERHEAD + key.length;
  for (const [key, value] of putPairs) size += putOpBytes(key, value.length);
  if (size > MAX_PAYLOAD_BYTES) throw new RangeError(`a batch may hold at most 4 GiB, got ${size} bytes`);
  const bytes = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
  let pos = FRAME_HEADER_BYTES;
  for (const key of dels) {
    bytes[pos] = OP_DEL;
    bytes.writeUInt16LE(key.length, pos + 1);
    pos += DEL_OP_OVERHEAD + bytes.write(key, pos + DEL_OP_OVERHEAD, "latin1");
  }
  const puts: EncodedPut[] = [];
  for (const [key, value] of putPairs) {
    bytes[pos] = OP_PUT;
    bytes.writeUInt16LE(key.length, pos + 1);
    pos += 3 + bytes.write(key, pos + 3, "latin1");
    bytes.writeUInt32LE(value.length, pos);
    pos += 4;
    bytes.set(value, pos);
    puts.push({ key, valueOffset: pos, valueLength: value.length });
    pos += value.length;
  }
  sealRecord(bytes);
  return { bytes, dels, puts };
}

/** Fills in the length and CRC of a record whose payload is already in place. */
export function sealRecord(record: Buffer): void {
  record.writeUInt32LE(record.length - FRAME_HEADER_BYTES, 4);
  // One CRC call over length and payload together: at open, the per-call
  // overhead of zlib's crc32 matters more than its per-byte cost.
  record.writeUInt32LE(crc32(record, 4), 0);
}

/** Receives the ops of one valid record during a scan, in log order. */
export interface RecordVisitor {
  del(key: string): void;
  /** `valueOffset` is absolute in the log file. */
  put(key: string, valueOffset: number, valueLength: number): void;
}

/** The payload length in the frame header at `buf[at..]` (0 means "not a record"). */
export function payloadLengthAt(buf: Uint8Array, at: number): number {
  return u32(buf, at + 4);
}

// Plain byte arithmetic rather than Buffer's readUInt*LE: opening a log runs
// these once per op before the JIT has warmed up, where Buffer's checked
// accessors cost several times more.
const u16 = (b: Uint8Array, i: number): number => (b[i] as number) | ((b[i + 1] as number) << 8);
const u32 = (b: Uint8Array, i: number): number =>
  ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16)) + (b[i + 3] as number) * 0x1000000;

/** Buffer's internal latin1 decoder, skipping `toString`'s argument handling (it is always present in Node). */
const latin1 = (Buffer.prototype as unknown as { latin1Slice(this: Buffer, start: number, end: number): string }).latin1Slice;

/**
 * True when the complete record in `buf[at, at + recordLength)` has a
 * matching CRC and a payload that parses exactly to its end. Checked in full
 * before {@link replayRecord} applies anything, so a bad record applies no op.
 */
export function isValidRecord(buf: Buffer, at: number, recordLength: number): boolean {
  const end = at + recordLength;
  if (recordLength <= FRAME_HEADER_BYTES) return false;
  if (u32(buf, at) !== crc32(buf, at + 4, end)) return false;
  let pos = at + FRAME_HEADER_BYTES;
  while (pos < end) {
    if (pos + 3 > end) return false;
    const tag = buf[pos];
    const keyLength = u16(buf, pos + 1);
    pos += 3 + keyLength;
    if (keyLength === 0 || pos > end) return false;
    if (tag === OP_PUT) {
      if (pos + 4 > end) return false;
      pos += 4 + u32(buf, pos);
      if (pos > end) return false;
    } else if (tag !== OP_DEL) {
      return false;
    }
  }
  return true;
}

/**
 * Reports the ops of a record already checked by {@link isValidRecord} to
 * `visitor`; `fileOffset` is where `buf[at]` sits in the log file.
 */
export function replayRecord(buf: Buffer, at: number, recordLength: number, fileOffset: number, visitor: RecordVisitor): void {
  const end = at + recordLength;
  let pos = at + FRAME_HEADER_BYTES;
  while (pos < end) {
    const tag = buf[pos];
    const keyLength = u16(buf, pos + 1);
    const key = latin1.call(buf, pos + 3, pos + 3 + keyLength);
    pos += 3 + keyLength;
    if (tag === OP_PUT) {
      const valueLength = u32(buf, pos);
      pos += 4;
      visitor.put(key, fileOffset + (pos - at), valueLength);
      pos += valueLength;
    } else {
      visitor.del(key);
    }
  }
}

/** Bytes {@link couldStartRecord} may look at from a candidate offset: header, first op head, longest key. */
export const RECORD_PROBE_BYTES = FRAME_HEADER_BYTES + DEL_OP_OVERHEAD + MAX_KEY_LENGTH;

/**
 * A cheap test that a record of `recordLength` bytes (header included, as
 * declared at `at`) could start at `buf[at..]`: its first op has a known tag
 * and a key of 1 to {@link MAX_KEY_LENGTH} printable ASCII bytes, as every
 * key the store accepts has. Looking for intact records after a damaged one
 * means trying every byte offset; this rejects almost all of them without a
 * CRC, so the search stays linear in the bytes searched.
 *
 * `buf` must hold `buf[at, at + min(recordLength, RECORD_PROBE_BYTES))`.
 */
export function couldStartRecord(buf: Uint8Array, at: number, recordLength: number): boolean {
  const op = at + FRAME_HEADER_BYTES;
  const end = at + recordLength;
  if (op + DEL_OP_OVERHEAD >= end) return false;
  const tag = buf[op];
  if (tag !== OP_DEL && tag !== OP_PUT) return false;
  const keyLength = u16(buf, op + 1);
  const keyEnd = op + DEL_OP_OVERHEAD + keyLength;
  if (keyLength === 0 || keyLength > MAX_KEY_LENGTH || keyEnd > end) return false;
  for (let i = op + DEL_OP_OVERHEAD; i < keyEnd; i++) {
    const byte = buf[i] as number;
    if (byte < 0x21 || byte > 0x7e) return false;
  }
  return true;
}
