/**
 * The index snapshot's delta (`INDEX.delta` beside `INDEX`): what a close
 * after a few writes records instead of rewriting the whole snapshot. It
 * names the snapshot it extends and the log it describes, and holds every
 * key put since that snapshot (with where its value is) and which of the
 * snapshot's entries those puts and the deletions since decide.
 *
 * Why: the snapshot ({@link ./file-index-run}) is one sorted table, and a
 * close that merged a handful of new keys into it rewrote all of it: at a
 * million documents ~2.5 MB, 25–45 ms of a close after editing 100
 * documents (of ~50 ms in all). The delta is written in the size of what
 * changed; the next open reads the snapshot's top as before and the delta
 * whole (at most {@link DELTA_MAX_KEYS} entries), then puts the delta's
 * keys in the index's overlay. Deltas are carried from session to session
 * (each one holds everything since the snapshot) until they pass that
 * size; then a close writes a whole snapshot again.
 *
 * When it is used: only with exactly the snapshot it names (its log
 * identity and its CRC) and only for exactly the log it describes (as the
 * snapshot itself is: generation, size, device, inode and the modification
 * time the close stamped). A log written since (a session that crashed),
 * cut, replaced or compacted is replayed in full, as without a delta. A
 * missing, damaged or stale delta is ignored at open, never an error. It is
 * written whole, flushed, then renamed into place, so a crash leaves the
 * old delta or the new one; the snapshot is not touched.
 *
 * Layout (little-endian): magic `HEARTHID`; CRC-32 of the rest; version
 * (1); the log's identity (generation, size: f64; device, inode, mtime in
 * ns: u64); the snapshot's identity, then its CRC (u32); counts of decided
 * snapshot entries and of keys (u32 each); live bytes (f64); the decided
 * entries' indexes (u32, ascending); the keys' value offsets (f64) and
 * lengths (f64); their lengths (u16); their bytes (ASCII, ascending).
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { writeTempFile } from "./durable-file.js";
import { crc32 } from "./file-crc.js";
import { readIdentity, writeIdentity, type LogIdentity } from "./file-index-run.js";

/** The delta's file name in the store directory. */
export const INDEX_DELTA_FILE = "INDEX.delta";
/** Its temporary name while being written. */
export const INDEX_DELTA_TEMP_FILE = "INDEX.delta.tmp";

/**
 * Most keys (put since the snapshot, plus snapshot entries they or
 * deletions decide) a delta holds: past this a close rewrites the
 * snapshot. The next open reads the delta whole: ~1 MB, a few ms.
 */
export const DELTA_MAX_KEYS = 16_384;

const MAGIC = Buffer.from("HEARTHID", "latin1");
const VERSION = 1;
const HEADER_BYTES = 120;

/** See the module docs. */
export interface IndexDelta {
  /** The snapshot it extends: the identity recorded in it, and its CRC. */
  readonly base: { readonly identity: LogIdentity; readonly crc: number };
  /** The log it describes, exactly. */
  readonly log: LogIdentity;
  /** What `LogIndex.liveBytes` counts with the delta applied. */
  readonly liveBytes: number;
  /** Snapshot entries (by index, ascending) the delta decides: put again since, or deleted. */
  readonly decided: Uint32Array;
  /** Keys put since the snapshot, ascending, and where each value is. */
  readonly keys: readonly string[];
  readonly offsets: Float64Array;
  readonly lengths: Float64Array;
}

/** The file image of `delta`. */
export function encodeDelta(delta: IndexDelta): Buffer {
  const n = delta.keys.length;
  const keyBytes = delta.keys.reduce((sum, key) => sum + key.length, 0);
  const image = Buffer.alloc(HEADER_BYTES + 4 * delta.decided.length + 18 * n + keyBytes);
  MAGIC.copy(image, 0);
  image.writeUInt32LE(VERSION, 12);
  writeIdentity(image, 16, delta.log);
  writeIdentity(image, 56, delta.base.identity);
  image.writeUInt32LE(delta.base.crc, 96);
  image.writeUInt32LE(delta.decided.length, 100);
  image.writeUInt32LE(n, 104);
  image.writeDoubleLE(delta.liveBytes, 112);
  let at = HEADER_BYTES;
  for (const i of delta.decided) at = image.writeUInt32LE(i, at);
  for (let j = 0; j < n; j++) at = image.writeDoubleLE(delta.offsets[j]!, at);
  for (let j = 0; j < n; j++) at = image.writeDoubleLE(delta.lengths[j]!, at);
  for (const key of delta.keys) at = image.writeUInt16LE(key.length, at);
  for (const key of delta.keys) at += image.write(key, at, "latin1");
  image.writeUInt32LE(crc32(image, 12), 8);
  return image;
}

/**
 * The delta in `image`, or `undefined` if it is not a whole, well-formed
 * delta of this version (a damaged or foreign file is ignored: the log is
 * replayed instead).
 */
export function decodeDelta(image: Buffer): IndexDelta | undefined {
  if (image.length < HEADER_BYTES || !image.subarray(0, MAGIC.length).equals(MAGIC) || image.readUInt32LE(12) !== VERSION) return undefined;
  if (crc32(image, 12) !== image.readUInt32LE(8)) return undefined;
  const decidedCount = image.readUInt32LE(100);
  const n = image.readUInt32LE(104);
  let at = HEADER_BYTES;
  if (image.length < at + 4 * decidedCount + 18 * n) return undefined;
  const decided = new Uint32Array(decidedCount);
  for (let i = 0; i < decidedCount; i++, at += 4) {
    decided[i] = image.readUInt32LE(at);
    if (i > 0 && decided[i]! <= decided[i - 1]!) return undefined;
  }
  const offsets = new Float64Array(n);
  const lengths = new Float64Array(n);
  for (let j = 0; j < n; j++, at += 8) offsets[j] = image.readDoubleLE(at);
  for (let j = 0; j < n; j++, at += 8) lengths[j] = image.readDoubleLE(at);
  const keyLengths: number[] = [];
  for (let j = 0; j < n; j++, at += 2) keyLengths.push(image.readUInt16LE(at));
  const keys: string[] = [];
  for (const length of keyLengths) {
    if (length === 0 || at + length > image.length) return undefined;
    const key = image.toString("latin1", at, at + length);
    if (keys.length > 0 && key <= keys[keys.length - 1]!) return undefined;
    keys.push(key);
    at += length;
  }
  if (at !== image.length) return undefined;
  const whole = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;
  if (!offsets.every(whole) || !lengths.every(whole)) return undefined;
  return {
    log: readIdentity(image, 16),
    base: { identity: readIdentity(image, 56), crc: image.readUInt32LE(96) },
    liveBytes: image.readDoubleLE(112),
    decided,
    keys,
    offsets,
    lengths,
  };
}

/** The delta in `dir`, or `undefined` if there is none or it is not usable (see {@link decodeDelta}). */
export function readDelta(dir: string): IndexDelta | undefined {
  let image: Buffer;
  try {
    image = fs.readFileSync(join(dir, INDEX_DELTA_FILE));
  } catch {
    return undefined;
  }
  return decodeDelta(image);
}

/**
 * Writes `delta` to a temporary file (which must not exist: the open sweeps
 * a crashed writer's), makes it durable, then renames it over `INDEX.delta`.
 */
export async function writeDelta(dir: string, delta: IndexDelta): Promise<void> {
  const temp = join(dir, INDEX_DELTA_TEMP_FILE);
  await writeTempFile(temp, encodeDelta(delta), { durable: true, mode: 0o600 });
  await fs.promises.rename(temp, join(dir, INDEX_DELTA_FILE));
}
