/**
 * The file store's index snapshot (`INDEX` beside the log): the key →
 * location table of a cleanly closed log, written at close and read back
 * at the next open instead of replaying the whole log.
 *
 * Why: replaying a log is O(its size). A million-document ledger's log is
 * ~75 MB and took ~400 ms to replay at every open, and the index it built
 * (one map entry per key) was tens of MB of heap. The snapshot is a sorted
 * table cut into pages of {@link PAGE_ENTRIES} entries. The open reads
 * only its top: the header, where each page is, and each page's first key
 * (the fence), 1/256 of the table; a page is read (and checked) the first
 * time a lookup needs it and searched in place. So the open does no work
 * per key: reading and checking the whole table (7.5 MB at a million
 * documents: 4 ms to read, 1 ms of CRC, 1.5 ms to check the keys' order,
 * and a garbage collection for the buffer) was a third of opening the
 * ledger and reading one document. Keys written after the open live in the
 * in-memory overlay ({@link ./file-index}) on top of it.
 *
 * When it is used: only for the exact file it was made from, or as the
 * base of a delta that names it and describes the log as it is now
 * ({@link ./file-index-delta}: what a close after a few writes leaves). The snapshot
 * names the log's generation, size, device, inode and modification time
 * (set by the store to a precise instant at close, which no later write
 * can reproduce), so a log that was written, cut, replaced or restored
 * since is replayed in full, with every check of a replay (torn tails,
 * damage in the middle, lost acknowledged writes). After a crash there is
 * no snapshot of the current log, so the open replays, as before. A
 * missing or stale snapshot, or one whose top is damaged or whose size is
 * not the size its top gives, is ignored at open, never an error. A page
 * is checked (its CRC-32, its keys in order within its fence) when first
 * read; one found damaged fails that read with `INTEGRITY` and removes the
 * snapshot, so the next open replays the log. (The file is written whole,
 * flushed, then renamed into place: a damaged page is damage to the disk.)
 *
 * Why not an embedded engine instead (the issue's other option): an LMDB
 * store (the `lmdb` package) was measured in this harness at a million
 * documents: loads at 17,000 docs/s against the log store's 47,000, 102 MB
 * on disk against 74 MB, and a higher peak RSS, for an open it made cheap;
 * this snapshot makes the open cheap and keeps the log's write speed, its
 * one-append atomic batches, its lock and its crash checks unchanged.
 *
 * Layout (little-endian):
 *
 * | offset | field |
 * |---|---|
 * | 0 | magic `HEARTHIX` |
 * | 8 | CRC-32 of bytes 12 … top end (header, page table, fence) |
 * | 12 | version (3) |
 * | 16 | log generation (f64) |
 * | 24 | log size (f64) |
 * | 32, 40, 48 | log device, inode, mtime in ns (u64) |
 * | 56 | entry count n (u32) |
 * | 60 | page count p (u32) |
 * | 64 | live bytes (f64): what {@link LogIndex.liveBytes} counts |
 * | 72 | file size (f64) |
 * | 80 | top end (u32): where the pages start |
 * | 88 | page table, p × 16: page offset (f64), page bytes (u32), page CRC-32 (u32) |
 * | 88 + 16p | fence key ends, p × u32, then the fence keys (each page's first key) |
 * | top end … | the pages, each at an 8-byte aligned offset |
 *
 * A page of c entries: value offsets c × f64, value lengths c × u32, key
 * ends c × u32 (in the page's key area), then its keys, ASCII (store keys
 * are printable ASCII), sorted, concatenated.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { compareByteSpans, compareCodeUnits } from "../codec/code-units.js";
import { HearthError } from "../errors.js";
import { crc32 } from "./file-crc.js";
import { readExactSync } from "./file-io.js";
import { PUT_OP_OVERHEAD } from "./file-format.js";

/** The snapshot's file name in the store directory. */
export const INDEX_FILE = "INDEX";
/** Its temporary name while being written. */
export const INDEX_TEMP_FILE = "INDEX.tmp";

/** Entries per page (the last page may hold fewer). */
export const PAGE_ENTRIES = 256;
/** Pages of a snapshot read from disk kept in memory at once (~18 KB each at a million documents). */
const CACHED_PAGES = 1024;

const MAGIC = Buffer.from("HEARTHIX", "latin1");
const VERSION = 3;
const HEADER_BYTES = 88;
const PAGE_TABLE_ENTRY = 16;
/** Bytes per entry in a page's columns: offset (8), length (4), key end (4). */
const ENTRY_BYTES = 16;

/** Which log file a snapshot describes: it is used only if all of these still hold. */
export interface LogIdentity {
  readonly generation: number;
  readonly size: number;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
}

/** The overlay's side of {@link IndexRun.merge}: its keys, ascending, and each one's value location. */
export interface MergeOverlay {
  readonly keys: readonly string[];
  offsetAt(j: number): number;
  lengthAt(j: number): number;
}

/** What a run is assembled from: `count` entries, keys ascending, by position. */
interface RunEntries {
  readonly count: number;
  keyLength(i: number): number;
  /** Writes entry i's key (its latin1 bytes) into `into` at `at`. */
  writeKey(i: number, into: Buffer, at: number): void;
  /** Entry i's key as a string (asked for each page's first only). */
  key(i: number): string;
  offset(i: number): number;
  length(i: number): number;
}

/** One page, parsed: its columns as typed arrays over its bytes. */
interface Page {
  readonly bytes: Buffer;
  readonly count: number;
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly keyEnds: Uint32Array;
  readonly keysAt: number;
}

/** Where a run's pages come from: its own image in memory (built), or the snapshot file (read). */
interface PageSource {
  /** The page's bytes, at an 8-byte aligned address. */
  read(at: number, length: number): Buffer;
  /** Whether pages are worth caching (a file) or are views already (memory). */
  readonly cached: boolean;
  release(): void;
}

/**
 * A sorted, immutable key → (offset, length) table, in pages searched in
 * place (see the module docs). Entries are numbered 0 … count − 1 across
 * pages.
 */
export class IndexRun {
  /** Number of entries. */
  readonly count: number;
  /** `putOpBytes` (file-format) summed over the entries. */
  readonly liveBytes: number;
  readonly #pageCount: number;
  readonly #table: Buffer;
  /** Each page's first key. */
  readonly #fence: string[];
  readonly #source: PageSource;
  readonly #pages = new Map<number, Page>();
  /** The whole file as written (built runs only). */
  readonly #image: Buffer | undefined;
  /** Where the snapshot file is (runs read from one), to remove it when a page is found damaged. */
  readonly #path: string | undefined;

  private constructor(top: Buffer, fence: string[], source: PageSource, image: Buffer | undefined, path: string | undefined) {
    this.count = top.readUInt32LE(56);
    this.#pageCount = top.readUInt32LE(60);
    this.liveBytes = top.readDoubleLE(64);
    this.#table = top.subarray(HEADER_BYTES, HEADER_BYTES + PAGE_TABLE_ENTRY * this.#pageCount);
    this.#fence = fence;
    this.#source = source;
    this.#image = image;
    this.#path = path;
  }

  /**
   * Builds a run from entries in ascending key order.
   * @throws RangeError if the keys are not strictly ascending
   */
  static build(keys: readonly string[], offsets: ArrayLike<number>, lengths: ArrayLike<number>): IndexRun {
    for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) throw new RangeError("index run keys must be strictly ascending");
    return IndexRun.#assemble({
      count: keys.length,
      keyLength: (i) => keys[i]!.length,
      writeKey: (i, into, at) => into.write(keys[i]!, at, "latin1"),
      key: (i) => keys[i]!,
      offset: (i) => offsets[i]!,
      length: (i) => lengths[i]!,
    });
  }

  /**
   * A run of `base`'s entries but those `dropped` marks (by index), and of
   * the `overlay`'s, in key order; an overlay entry wins over a base entry
   * with its key. Base keys are compared and copied as the bytes they are
   * in their pages, never made into strings: this is what a store closing
   * after a million-document load writes, and making its ~60,000 keys into
   * strings and back was most of the ~30 ms it took.
   * @param overlay - keys ascending, disjoint from each other
   */
  static merge(base: IndexRun | undefined, dropped: Uint8Array | undefined, overlay: MergeOverlay): IndexRun {
    const baseCount = base?.count ?? 0;
    const keys = overlay.keys;
    // Each entry of the result: a base index (>= 0) or an overlay index j as -1 - j.
    const order = new Int32Array(baseCount + keys.length);
    let n = 0;
    let i = 0;
    let j = 0;
    while (i < baseCount || j < keys.length) {
      if (i < baseCount && dropped?.[i] === 1) {
        i++;
        continue;
      }
      const side = j === keys.length ? -1 : i === baseCount ? 1 : base!.#compareKeyAt(i, keys[j]!);
      if (side < 0) order[n++] = i++;
      else {
        if (side === 0) i++;
        order[n++] = -1 - j++;
      }
    }
    const run = base as IndexRun;
    return IndexRun.#assemble({
      count: n,
      keyLength: (e) => {
        const at = order[e]!;
        return at < 0 ? keys[-1 - at]!.length : run.#keyLengthAt(at);
      },
      writeKey: (e, into, to) => {
        const at = order[e]!;
        if (at < 0) into.write(keys[-1 - at]!, to, "latin1");
        else run.#copyKeyAt(at, into, to);
      },
      key: (e) => {
        const at = order[e]!;
        return at < 0 ? keys[-1 - at]! : run.keyAt(at);
      },
      offset: (e) => {
        const at = order[e]!;
        return at < 0 ? overlay.offsetAt(-1 - at) : run.offsetAt(at);
      },
      length: (e) => {
        const at = order[e]!;
        return at < 0 ? overlay.lengthAt(-1 - at) : run.lengthAt(at);
      },
    });
  }

  /** Key `i` against `key`, in string order: negative, zero or positive. */
  #compareKeyAt(i: number, key: string): number {
    return compareAt(this.#page(Math.floor(i / PAGE_ENTRIES)), i % PAGE_ENTRIES, key);
  }

  /** Length of key `i` (its bytes: store keys are ASCII). */
  #keyLengthAt(i: number): number {
    const page = this.#page(Math.floor(i / PAGE_ENTRIES));
    const j = i % PAGE_ENTRIES;
    return page.keysAt + page.keyEnds[j]! - keyStart(page, j);
  }

  /** Copies key `i`'s bytes into `into` at `at`, as they are in its page. */
  #copyKeyAt(i: number, into: Buffer, at: number): void {
    const page = this.#page(Math.floor(i / PAGE_ENTRIES));
    const j = i % PAGE_ENTRIES;
    page.bytes.copy(into, at, keyStart(page, j), page.keysAt + page.keyEnds[j]!);
  }

  /** A run of `entries` (keys ascending), as one image in memory laid out as the snapshot file is. */
  static #assemble(entries: RunEntries): IndexRun {
    const count = entries.count;
    const pageCount = Math.ceil(count / PAGE_ENTRIES);
    let live = 0;
    const keyLengths = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      keyLengths[i] = entries.keyLength(i);
      live += PUT_OP_OVERHEAD + keyLengths[i]! + entries.length(i);
    }
    const fenceKeys = Array.from({ length: pageCount }, (_, p) => entries.key(p * PAGE_ENTRIES));
    const fenceText = fenceKeys.join("");
    const topEnd = align8(HEADER_BYTES + PAGE_TABLE_ENTRY * pageCount + 4 * pageCount + fenceText.length);
    // Page sizes first, for one buffer holding the whole file.
    const pageBytes: number[] = [];
    let size = topEnd;
    for (let p = 0; p < pageCount; p++) {
      const from = p * PAGE_ENTRIES;
      const to = Math.min(count, from + PAGE_ENTRIES);
      let keyBytes = 0;
      for (let i = from; i < to; i++) keyBytes += keyLengths[i]!;
      pageBytes.push(ENTRY_BYTES * (to - from) + keyBytes);
      size += align8(pageBytes[p]!);
    }
    const image = Buffer.alloc(size);
    MAGIC.copy(image, 0);
    image.writeUInt32LE(VERSION, 12);
    image.writeUInt32LE(count, 56);
    image.writeUInt32LE(pageCount, 60);
    image.writeDoubleLE(live, 64);
    image.writeDoubleLE(size, 72);
    image.writeUInt32LE(topEnd, 80);
    let fenceEnd = 0;
    const fenceEndsAt = HEADER_BYTES + PAGE_TABLE_ENTRY * pageCount;
    const fenceKeysAt = fenceEndsAt + 4 * pageCount;
    for (let p = 0; p < pageCount; p++) {
      fenceEnd += fenceKeys[p]!.length;
      image.writeUInt32LE(fenceEnd, fenceEndsAt + 4 * p);
    }
    image.write(fenceText, fenceKeysAt, "latin1");
    let at = topEnd;
    for (let p = 0; p < pageCount; p++) {
      const from = p * PAGE_ENTRIES;
      const c = Math.min(count, from + PAGE_ENTRIES) - from;
      const page = image.subarray(at, at + pageBytes[p]!);
      const offsetColumn = new Float64Array(image.buffer, image.byteOffset + at, c);
      const lengthColumn = new Uint32Array(image.buffer, image.byteOffset + at + 8 * c, c);
      const endColumn = new Uint32Array(image.buffer, image.byteOffset + at + 12 * c, c);
      let keyAt = ENTRY_BYTES * c;
      for (let j = 0; j < c; j++) {
        offsetColumn[j] = entries.offset(from + j);
        lengthColumn[j] = entries.length(from + j);
        entries.writeKey(from + j, page, keyAt);
        keyAt += keyLengths[from + j]!;
        endColumn[j] = keyAt - ENTRY_BYTES * c;
      }
      const entry = HEADER_BYTES + PAGE_TABLE_ENTRY * p;
      image.writeDoubleLE(at, entry);
      image.writeUInt32LE(pageBytes[p]!, entry + 8);
      image.writeUInt32LE(crc32(image, at, at + align8(pageBytes[p]!)), entry + 12); // padding included: no byte goes unchecked
      at += align8(pageBytes[p]!);
    }
    const source: PageSource = { read: (from, length) => image.subarray(from, from + length), cached: false, release: () => undefined };
    return new IndexRun(image.subarray(0, topEnd), fenceKeys, source, image, undefined);
  }

  /**
   * Opens the snapshot in `dir` if it describes exactly the log `expected`
   * names: reads its top only (see the module docs); `undefined` if there
   * is none, its top is damaged, its size is not what the top says, or it
   * is about another file or another state of this one. The run keeps the
   * file open for its pages until {@link release}.
   */
  static read(dir: string, expected: LogIdentity): IndexRun | undefined {
    return IndexRun.readSnapshot(dir, (identity) => sameLog(identity, expected))?.run;
  }

  /**
   * {@link read}, for whichever log identity and CRC of the snapshot's top
   * `accept` takes (a delta names the snapshot it extends by both,
   * `file-index-delta.ts`). Returns the run with the identity and CRC.
   */
  static readSnapshot(dir: string, accept: (identity: LogIdentity, crc: number) => boolean): { run: IndexRun; identity: LogIdentity; crc: number } | undefined {
    const path = join(dir, INDEX_FILE);
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch {
      return undefined;
    }
    let kept = false;
    try {
      const size = fs.fstatSync(fd).size;
      if (size < HEADER_BYTES) return undefined;
      const header = readAt(fd, 0, HEADER_BYTES);
      if (!header.subarray(0, MAGIC.length).equals(MAGIC) || header.readUInt32LE(12) !== VERSION) return undefined;
      if (header.readDoubleLE(72) !== size) return undefined;
      const identity = readIdentity(header, 16);
      if (!accept(identity, header.readUInt32LE(8))) return undefined;
      const topEnd = header.readUInt32LE(80);
      const pageCount = header.readUInt32LE(60);
      const count = header.readUInt32LE(56);
      if (topEnd > size || topEnd < HEADER_BYTES + (PAGE_TABLE_ENTRY + 4) * pageCount || pageCount !== Math.ceil(count / PAGE_ENTRIES)) return undefined;
      // The rest of the top after the header already read.
      const top = Buffer.allocUnsafeSlow(topEnd);
      header.copy(top);
      readExactSync(fd, top.subarray(HEADER_BYTES), HEADER_BYTES);
      if (crc32(top, 12) !== top.readUInt32LE(8)) return undefined;
      const fence = wellFormedTop(top, pageCount, topEnd, size);
      if (!fence) return undefined;
      const source: PageSource = {
        read: (at, length) => readAt(fd, at, length),
        cached: true,
        release: () => fs.closeSync(fd),
      };
      kept = true;
      return { run: new IndexRun(top, fence, source, undefined, path), identity, crc: header.readUInt32LE(8) };
    } catch {
      return undefined;
    } finally {
      if (!kept) fs.closeSync(fd);
    }
  }

  /**
   * Writes this run as the snapshot of the log `identity` names: to a
   * temporary file, made durable, then renamed over `INDEX`, so a crash
   * leaves the old snapshot or the new one, whole. Only a built run
   * (from {@link build}) is written.
   */
  async write(dir: string, identity: LogIdentity): Promise<void> {
    const image = this.#image;
    if (!image) throw new Error("only a built index run is written; build one from the index first");
    writeIdentity(image, 16, identity);
    image.writeUInt32LE(crc32(image, 12, image.readUInt32LE(80)), 8);
    const temp = join(dir, INDEX_TEMP_FILE);
    const handle = await fs.promises.open(temp, "w", 0o600);
    try {
      await handle.writeFile(image);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, join(dir, INDEX_FILE));
  }

  /** Closes the snapshot file a run read from disk holds (a no-op for built runs). */
  release(): void {
    this.#pages.clear();
    this.#source.release();
  }

  /** Index of `key`, or -1. */
  find(key: string): number {
    const p = this.#pageOf(key);
    if (p < 0) return -1;
    const page = this.#page(p);
    const j = pageLowerBound(page, key);
    return j < page.count && compareAt(page, j, key) === 0 ? p * PAGE_ENTRIES + j : -1;
  }

  /** Index of the first key `>= key` (or `count`). */
  lowerBound(key: string): number {
    const p = this.#pageOf(key);
    if (p < 0) return 0;
    const page = this.#page(p);
    return p * PAGE_ENTRIES + pageLowerBound(page, key);
  }

  /** Key `i`. */
  keyAt(i: number): string {
    const page = this.#page(Math.floor(i / PAGE_ENTRIES));
    const j = i % PAGE_ENTRIES;
    return page.bytes.toString("latin1", keyStart(page, j), page.keysAt + page.keyEnds[j]!);
  }

  /** Value offset of entry `i` in the log. */
  offsetAt(i: number): number {
    return this.#page(Math.floor(i / PAGE_ENTRIES)).offsets[i % PAGE_ENTRIES]!;
  }

  /** Value length of entry `i`. */
  lengthAt(i: number): number {
    return this.#page(Math.floor(i / PAGE_ENTRIES)).lengths[i % PAGE_ENTRIES]!;
  }

  /** The page whose range holds `key` (the last page whose first key is `<= key`), or -1 before the first. */
  #pageOf(key: string): number {
    let lo = 0;
    let hi = this.#pageCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#fence[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  #page(p: number): Page {
    const cached = this.#pages.get(p);
    if (cached) return cached;
    const entry = PAGE_TABLE_ENTRY * p;
    const at = this.#table.readDoubleLE(entry);
    const length = this.#table.readUInt32LE(entry + 8);
    const count = Math.min(PAGE_ENTRIES, this.count - p * PAGE_ENTRIES);
    let page: Page | undefined;
    let cause: unknown;
    try {
      // A built run's pages are its own, made just now; a file's are checked before use (with their padding).
      if (!this.#source.cached) page = pageColumns(this.#source.read(at, length), count);
      else {
        const padded = this.#source.read(at, align8(length));
        if (crc32(padded) === this.#table.readUInt32LE(entry + 12)) page = checkedPage(padded.subarray(0, length), count, this.#fence[p]!, this.#fence[p + 1]);
      }
    } catch (err) {
      cause = err;
    }
    if (!page) {
      if (this.#path) fs.rmSync(this.#path, { force: true });
      throw new HearthError("INTEGRITY", `page ${p} of the index snapshot ${this.#path ?? "(in memory)"} is damaged; it was removed: reopen the store, which then rebuilds its index from the log`, { cause });
    }
    // Pages read from the file are bounded in number (first in, first out); a built run's are views of its image.
    if (this.#source.cached && this.#pages.size >= CACHED_PAGES) this.#pages.delete(this.#pages.keys().next().value!);
    this.#pages.set(p, page);
    return page;
  }
}

const align8 = (n: number): number => (n + 7) & ~7;

/**
 * `length` bytes at `at` of `fd` in a buffer of their own (8-byte aligned).
 * @throws if the file ends first
 */
function readAt(fd: number, at: number, length: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(length);
  readExactSync(fd, buf, at);
  return buf;
}

function readFence(top: Buffer, pageCount: number): string[] {
  const endsAt = HEADER_BYTES + PAGE_TABLE_ENTRY * pageCount;
  const keysAt = endsAt + 4 * pageCount;
  const fence = new Array<string>(pageCount);
  let start = 0;
  for (let p = 0; p < pageCount; p++) {
    const end = top.readUInt32LE(endsAt + 4 * p);
    fence[p] = top.toString("latin1", keysAt + start, keysAt + end);
    start = end;
  }
  return fence;
}

/**
 * The fence keys, if the page table points inside the file and in order and
 * the fence keys ascend (what lookups rely on before any page is read).
 */
function wellFormedTop(top: Buffer, pageCount: number, topEnd: number, size: number): string[] | undefined {
  const endsAt = HEADER_BYTES + PAGE_TABLE_ENTRY * pageCount;
  const keysAt = endsAt + 4 * pageCount;
  let previousEnd = 0;
  let pageEnd = topEnd;
  for (let p = 0; p < pageCount; p++) {
    const at = top.readDoubleLE(HEADER_BYTES + PAGE_TABLE_ENTRY * p);
    const length = top.readUInt32LE(HEADER_BYTES + PAGE_TABLE_ENTRY * p + 8);
    if (at !== pageEnd || at % 8 !== 0 || at + length > size) return undefined;
    pageEnd = align8(at + length);
    const end = top.readUInt32LE(endsAt + 4 * p);
    if (end <= previousEnd || keysAt + end > topEnd) return undefined;
    previousEnd = end;
  }
  if (pageEnd !== size) return undefined;
  const fence = readFence(top, pageCount);
  for (let p = 1; p < pageCount; p++) if (!(fence[p - 1]! < fence[p]!)) return undefined;
  return fence;
}

/** A page's columns as typed arrays over `bytes` (8-byte aligned, at least the columns long). */
function pageColumns(bytes: Buffer, count: number): Page {
  return {
    bytes,
    count,
    offsets: new Float64Array(bytes.buffer, bytes.byteOffset, count),
    lengths: new Uint32Array(bytes.buffer, bytes.byteOffset + 8 * count, count),
    keyEnds: new Uint32Array(bytes.buffer, bytes.byteOffset + 12 * count, count),
    keysAt: ENTRY_BYTES * count,
  };
}

/**
 * A page read from a file, if `bytes` hold `count` entries whose keys
 * ascend from exactly `first` to below `next` (the next page's first key).
 */
function checkedPage(bytes: Buffer, count: number, first: string, next: string | undefined): Page | undefined {
  const keysAt = ENTRY_BYTES * count;
  if (bytes.length < keysAt || bytes.byteOffset % 8 !== 0) return undefined;
  const page = pageColumns(bytes, count);
  let previous = 0;
  for (let j = 0; j < count; j++) {
    const end = page.keyEnds[j]!;
    if (end <= previous || keysAt + end > bytes.length) return undefined;
    // Key j − 1 is bytes keyStart(j − 1) … keysAt + previous; key j follows it up to keysAt + end.
    if (j > 0 && compareByteSpans(bytes, keyStart(page, j - 1), keysAt + previous, keysAt + previous, keysAt + end) >= 0) return undefined;
    previous = end;
  }
  if (keysAt + previous !== bytes.length) return undefined;
  if (compareAt(page, 0, first) !== 0) return undefined;
  if (next !== undefined && compareAt(page, count - 1, next) >= 0) return undefined;
  return page;
}

function keyStart(page: Page, j: number): number {
  return page.keysAt + (j === 0 ? 0 : page.keyEnds[j - 1]!);
}

/**
 * Sign of (key j − `key`) in string order. Keys are stored as latin1, one
 * byte per code unit, so they compare with the probe directly: a tenth of
 * a `Buffer.compare` call per step.
 */
function compareAt(page: Page, j: number, key: string): number {
  return compareCodeUnits(page.bytes, keyStart(page, j), page.keysAt + page.keyEnds[j]!, key);
}

/** Index in `page` of its first key `>= key` (or its count). */
function pageLowerBound(page: Page, key: string): number {
  let lo = 0;
  let hi = page.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareAt(page, mid, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The log identity stored at `at` in `buf` (40 bytes: generation, size as f64; device, inode, mtime in ns as u64). */
export function readIdentity(buf: Buffer, at: number): LogIdentity {
  return {
    generation: buf.readDoubleLE(at),
    size: buf.readDoubleLE(at + 8),
    dev: buf.readBigUInt64LE(at + 16),
    ino: buf.readBigUInt64LE(at + 24),
    mtimeNs: buf.readBigUInt64LE(at + 32),
  };
}

/** Stores `identity` at `at` in `buf`, as {@link readIdentity} reads it. */
export function writeIdentity(buf: Buffer, at: number, identity: LogIdentity): void {
  buf.writeDoubleLE(identity.generation, at);
  buf.writeDoubleLE(identity.size, at + 8);
  buf.writeBigUInt64LE(identity.dev, at + 16);
  buf.writeBigUInt64LE(identity.ino, at + 24);
  buf.writeBigUInt64LE(identity.mtimeNs, at + 32);
}

/** True when two identities name the same log file in the same state. */
export function sameLog(a: LogIdentity, b: LogIdentity): boolean {
  return a.generation === b.generation && a.size === b.size && a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs;
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
