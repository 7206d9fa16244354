/**
 * The on-disk format of the file store's append-only log, in one place so
 * the writer, the open-time scanner and compaction cannot disagree.
 *
 * ```
 * file   := MAGIC record*
 * record := u32 payloadLength | u32 crc | payload          (little endian)
 * crc    := crc32(payload, crc32(payloadLength bytes))
 * payload:= op+            (all deletes of the batch first, then all puts)
 * op     := 0x01 u16 keyLength key                          (delete)
 *         | 0x02 u16 keyLength key u32 valueLength value    (put)
 * ```
 *
 * One record is one `write(batch)`, so a batch is atomic: at open a record
 * whose frame runs past the end of the file or whose CRC does not match is
 * a torn tail and is cut off together with everything after it. Covering the
 * length by the CRC and refusing empty payloads means a run of zero bytes
 * (what a filesystem may leave after a power loss) never parses as a record.
 *
 * Node-only (uses `node:zlib`).
 *
 * @module
 */
import { crc32 } from "node:zlib";
import type { WriteBatch } from "./types.js";

/** First bytes of every log file: names the format and its version. */
export const LOG_MAGIC = Buffer.from("HEARTHLOG\x00v1\x00\x00\x00\x00", "latin1");
/** Bytes before each record's payload: length and CRC. */
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
  const payloadLength = record.length - FRAME_HEADER_BYTES;
  record.writeUInt32LE(payloadLength, 0);
  record.writeUInt32LE(recordCrc(record.subarray(0, 4), record.subarray(FRAME_HEADER_BYTES)), 4);
}

function recordCrc(lengthBytes: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(lengthBytes));
}

/** Receives the ops of one valid record during a scan, in log order. */
export interface RecordVisitor {
  del(key: string): void;
  /** `valueOffset` is relative to the start of the record. */
  put(key: string, valueOffset: number, valueLength: number): void;
}

/**
 * Verifies one complete record (header and payload) and reports its ops to
 * `visitor`. Returns false, reporting nothing, when the CRC does not match
 * or the payload does not parse: the record is then treated as torn.
 */
export function visitRecord(record: Buffer, visitor: RecordVisitor): boolean {
  const payloadLength = record.readUInt32LE(0);
  if (payloadLength === 0 || record.length !== FRAME_HEADER_BYTES + payloadLength) return false;
  if (record.readUInt32LE(4) !== recordCrc(record.subarray(0, 4), record.subarray(FRAME_HEADER_BYTES))) return false;
  // Parse fully before reporting anything, so a malformed record applies no op.
  const ops: Array<[string, number, number] | string> = [];
  let pos = FRAME_HEADER_BYTES;
  while (pos < record.length) {
    if (pos + 3 > record.length) return false;
    const tag = record[pos];
    const keyLength = record.readUInt16LE(pos + 1);
    pos += 3;
    if (keyLength === 0 || pos + keyLength > record.length) return false;
    const key = record.toString("latin1", pos, pos + keyLength);
    pos += keyLength;
    if (tag === OP_DEL) {
      ops.push(key);
    } else if (tag === OP_PUT) {
      if (pos + 4 > record.length) return false;
      const valueLength = record.readUInt32LE(pos);
      pos += 4;
      if (pos + valueLength > record.length) return false;
      ops.push([key, pos, valueLength]);
      pos += valueLength;
    } else {
      return false;
    }
  }
  for (const op of ops) {
    if (typeof op === "string") visitor.del(op);
    else visitor.put(op[0], op[1], op[2]);
  }
  return true;
}
