/**
 * The file store's index snapshot (`INDEX` beside the log): the key →
 * location table of a cleanly closed log, written at close and read back
 * at the next open instead of replaying the whole log.
 *
 * Why: replaying a log is O(its size). A million-document ledger's log is
 * ~75 MB and took ~400 ms to replay at every open, and the index it built
 * (one map entry per key) was tens of MB of heap. The snapshot is one
 * sorted table in one buffer: the open reads and checksums it (a few ms
 * per 100,000 keys, memcpy speed) and lookups binary-search it in place,
 * so nothing per key is built at open. Keys written after the open live
 * in the in-memory overlay ({@link ./file-index}) on top of it.
 *
 * When it is used: only for the exact file it was made from. The snapshot
 * names the log's generation, size, device, inode and modification time
 * (set by the store to a precise instant at close, which no later write
 * can reproduce), so a log that was written, cut, replaced or restored
 * since is replayed in full, with every check of a replay (torn tails,
 * damage in the middle, lost acknowledged writes). After a crash there is
 * no snapshot of the current log, so the open replays, as before. A
 * missing, stale or damaged snapshot (CRC-32 over the whole file) is
 * ignored, never an error.
 *
 * Why not an embedded engine instead (the other option): an LMDB
 * store (the `lmdb` package) was measured in this harness at a million
 * documents: loads at 17,000 docs/s against the log store's 47,000, 102 MB
 * on disk against 74 MB, and a higher peak RSS, for an open it made cheap;
 * this snapshot makes the open cheap and keeps the log's write speed, its
 * one-append atomic batches, its lock and its crash checks unchanged.
 *
 * Layout (little-endian, columns so they are read as typed arrays in place):
 *
 * | offset | field |
 * |---|---|
 * | 0 | magic `HEARTHIX` |
 * | 8 | CRC-32 of bytes 12… |
 * | 12 | version (2) |
 * | 16 | log generation (f64) |
 * | 24 | log size (f64) |
 * | 32, 40, 48 | log device, inode, mtime in ns (u64) |
 * | 56 | entry count n (u32) |
 * | 60 | key bytes (u32) |
 * | 64 | live bytes (f64): what {@link LogIndex.liveBytes} counts |
 * | 80 | value offsets in the log, n × f64 |
 * | 80 + 8n | value lengths, n × u32 |
 * | 80 + 12n | key ends in the key area, n × u32 (key i is bytes end(i−1)…end(i)) |
 * | 80 + 16n | the keys: ASCII (store keys are printable ASCII), sorted, concatenated |
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { compareCodeUnits } from "../codec/code-units.js";
import { crc32 } from "./file-crc.js";
import { putOpBytes } from "./file-format.js";

/** The snapshot's file name in the store directory. */
export const INDEX_FILE = "INDEX";
/** Its temporary name while being written. */
export const INDEX_TEMP_FILE = "INDEX.tmp";

const MAGIC = Buffer.from("HEARTHIX", "latin1");
const VERSION = 2;
const HEADER_BYTES = 80;
/** Bytes per entry in the columns: offset (8), length (4), key end (4). */
const ENTRY_BYTES = 16;

/** Which log file a snapshot describes: it is used only if all of these still hold. */
export interface LogIdentity {
  readonly generation: number;
  readonly size: number;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
}

/** A sorted, immutable key → (offset, length) table in one buffer, searched in place. */
export class IndexRun {
  readonly #buf: Buffer;
  /** Number of entries. */
  readonly count: number;
  /** {@link putOpBytes} summed over the entries. */
  readonly liveBytes: number;
  readonly #offsets: Float64Array;
  readonly #lengths: Uint32Array;
  readonly #keyEnds: Uint32Array;
  readonly #keysAt: number;

  /** @param buf - the whole table, header first, at an 8-byte aligned address */
  private constructor(buf: Buffer) {
    this.#buf = buf;
    const count = buf.readUInt32LE(56);
    this.count = count;
    this.liveBytes = buf.readDoubleLE(64);
    this.#offsets = new Float64Array(buf.buffer, buf.byteOffset + HEADER_BYTES, count);
    this.#lengths = new Uint32Array(buf.buffer, buf.byteOffset + HEADER_BYTES + 8 * count, count);
    this.#keyEnds = new Uint32Array(buf.buffer, buf.byteOffset + HEADER_BYTES + 12 * count, count);
    this.#keysAt = HEADER_BYTES + ENTRY_BYTES * count;
  }

  /**
   * Builds a run from entries in ascending key order.
   * @throws RangeError if the keys are not strictly ascending
   */
  static build(keys: readonly string[], offsets: ArrayLike<number>, lengths: ArrayLike<number>): IndexRun {
    const count = keys.length;
    const text = keys.join("");
    const keysAt = HEADER_BYTES + ENTRY_BYTES * count;
    const buf = Buffer.alloc(keysAt + text.length);
    MAGIC.copy(buf, 0);
    buf.writeUInt32LE(VERSION, 12);
    buf.writeUInt32LE(count, 56);
    buf.writeUInt32LE(text.length, 60);
    buf.write(text, keysAt, "latin1");
    const offsetColumn = new Float64Array(buf.buffer, buf.byteOffset + HEADER_BYTES, count);
    const lengthColumn = new Uint32Array(buf.buffer, buf.byteOffset + HEADER_BYTES + 8 * count, count);
    const endColumn = new Uint32Array(buf.buffer, buf.byteOffset + HEADER_BYTES + 12 * count, count);
    let live = 0;
    let end = 0;
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      if (i > 0 && !(keys[i - 1]! < key)) throw new RangeError("index run keys must be strictly ascending");
      end += key.length;
      endColumn[i] = end;
      offsetColumn[i] = offsets[i]!;
      lengthColumn[i] = lengths[i]!;
      live += putOpBytes(key, lengths[i]!);
    }
    buf.writeDoubleLE(live, 64);
    return new IndexRun(buf);
  }

  /**
   * Reads the snapshot in `dir` if it describes exactly the log `expected`
   * names; `undefined` if there is none, it is damaged, or it is about
   * another file or another state of this one.
   */
  static read(dir: string, expected: LogIdentity): IndexRun | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(join(dir, INDEX_FILE));
    } catch {
      return undefined;
    }
    if (buf.length < HEADER_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC) || buf.readUInt32LE(12) !== VERSION) return undefined;
    const count = buf.readUInt32LE(56);
    if (buf.length !== HEADER_BYTES + ENTRY_BYTES * count + buf.readUInt32LE(60)) return undefined;
    if (crc32(buf, 12) !== buf.readUInt32LE(8)) return undefined;
    const identity = readIdentity(buf);
    const same =
      identity.generation === expected.generation &&
      identity.size === expected.size &&
      identity.dev === expected.dev &&
      identity.ino === expected.ino &&
      identity.mtimeNs === expected.mtimeNs;
    if (!same) return undefined;
    // The columns are read as typed arrays in place, which needs 8-byte alignment.
    if (buf.byteOffset % 8 !== 0) buf = Buffer.from(new Uint8Array(buf));
    const run = new IndexRun(buf);
    return run.#wellFormed() ? run : undefined;
  }

  /**
   * Writes this run as the snapshot of the log `identity` names: to a
   * temporary file, made durable, then renamed over `INDEX`, so a crash
   * leaves the old snapshot or the new one, whole.
   */
  async write(dir: string, identity: LogIdentity): Promise<void> {
    const buf = this.#buf;
    buf.writeDoubleLE(identity.generation, 16);
    buf.writeDoubleLE(identity.size, 24);
    buf.writeBigUInt64LE(identity.dev, 32);
    buf.writeBigUInt64LE(identity.ino, 40);
    buf.writeBigUInt64LE(identity.mtimeNs, 48);
    buf.writeUInt32LE(crc32(buf, 12), 8);
    const temp = join(dir, INDEX_TEMP_FILE);
    const handle = await fs.promises.open(temp, "w", 0o600);
    try {
      await handle.writeFile(buf);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, join(dir, INDEX_FILE));
  }

  /** Index of `key`, or -1. */
  find(key: string): number {
    const i = this.lowerBound(key);
    return i < this.count && this.#compareAt(i, key) === 0 ? i : -1;
  }

  /** Index of the first key `>= key` (or `count`). */
  lowerBound(key: string): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareAt(mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Key `i`. */
  keyAt(i: number): string {
    return this.#buf.toString("latin1", this.#keyStart(i), this.#keysAt + this.#keyEnds[i]!);
  }

  /** Value offset of entry `i` in the log. */
  offsetAt(i: number): number {
    return this.#offsets[i]!;
  }

  /** Value length of entry `i`. */
  lengthAt(i: number): number {
    return this.#lengths[i]!;
  }

  /** Memory the run holds. */
  get byteLength(): number {
    return this.#buf.length;
  }

  #keyStart(i: number): number {
    return this.#keysAt + (i === 0 ? 0 : this.#keyEnds[i - 1]!);
  }

  /**
   * Sign of (key i − `key`) in string order. Keys are stored as latin1, one
   * byte per code unit, so they compare with the probe directly: a tenth of
   * a `Buffer.compare` call per step.
   */
  #compareAt(i: number, key: string): number {
    return compareCodeUnits(this.#buf, this.#keyStart(i), this.#keysAt + this.#keyEnds[i]!, key);
  }


  /** Key ends ascend within the key area and every length fits a value: what lookups rely on. */
  #wellFormed(): boolean {
    const keyBytes = this.#buf.length - this.#keysAt;
    let previous = 0;
    for (let i = 0; i < this.count; i++) {
      const end = this.#keyEnds[i]!;
      if (end <= previous || end > keyBytes) return false;
      previous = end;
    }
    return true;
  }
}

function readIdentity(buf: Buffer): LogIdentity {
  return {
    generation: buf.readDoubleLE(16),
    size: buf.readDoubleLE(24),
    dev: buf.readBigUInt64LE(32),
    ino: buf.readBigUInt64LE(40),
    mtimeNs: buf.readBigUInt64LE(48),
  };
}

/** The identity of the log open on `fd` as it is now. */
export function logIdentity(fd: number, generation: number): LogIdentity {
  const stat = fs.fstatSync(fd, { bigint: true });
  return { generation, size: Number(stat.size), dev: stat.dev, ino: stat.ino, mtimeNs: stat.mtimeNs };
}

/**
 * Stamps the log open on `fd` with a modification time no later write can
 * reproduce: this instant to the microsecond (what the system call keeps),
 * never a whole millisecond, where the kernel stamps writes with its coarse
 * clock tick. Returns whether the file system kept it: one that keeps only
 * coarse times (a second, a millisecond) could give a later write this very
 * time, so no snapshot may rely on it there.
 */
export function stampLog(fd: number): boolean {
  let micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  // Well inside a millisecond, so the conversion's rounding (±1 µs) cannot land on a whole one.
  const withinMs = micros % 1000;
  if (withinMs < 10) micros += 10;
  else if (withinMs > 990) micros -= 10;
  fs.futimesSync(fd, micros / 1e6, micros / 1e6);
  const kept = fs.fstatSync(fd, { bigint: true }).mtimeNs;
  const wanted = BigInt(micros) * 1000n;
  const drift = kept > wanted ? kept - wanted : wanted - kept;
  return drift <= 2000n && kept % 1_000_000n !== 0n;
}
