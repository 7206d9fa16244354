/**
 * The file store's in-memory index: key → where its current value sits in
 * the log. Built by replaying the log at open, updated after every append,
 * remapped when compaction moves values to a new log. It also counts the
 * live bytes, which is how the store knows when compaction pays.
 *
 * Node-only (holds {@link LogFile}s).
 *
 * @module
 */
import { putOpBytes } from "./file-format.js";
import type { LogFile } from "./file-log.js";
import { SortedKeys } from "./memory.js";

/** Where one value lives: a single positioned read of `length` bytes at `offset` in `file`. */
export interface ValueLocation {
  readonly file: LogFile;
  readonly offset: number;
  readonly length: number;
}

/** Key → {@link ValueLocation}, with sorted listing and a live-byte count. */
export class LogIndex {
  private readonly locations = new Map<string, ValueLocation>();
  private readonly keys = new SortedKeys();
  /** Bytes the live puts would occupy in a freshly compacted log (ops only, no frame headers). */
  liveBytes = 0;

  /** Where `key`'s value is, if it has one. */
  get(key: string): ValueLocation | undefined {
    return this.locations.get(key);
  }

  /** Keys with `prefix`, ascending. */
  list(prefix: string): string[] {
    return this.keys.list(prefix);
  }

  /** Number of live keys. */
  get size(): number {
    return this.locations.size;
  }

  /** Records a put. */
  put(key: string, location: ValueLocation): void {
    const old = this.locations.get(key);
    if (old) this.liveBytes -= putOpBytes(key, old.length);
    else this.keys.add(key);
    this.locations.set(key, location);
    this.liveBytes += putOpBytes(key, location.length);
  }

  /** Records a delete (of a key that may be absent). */
  del(key: string): void {
    const old = this.locations.get(key);
    if (!old) return;
    this.liveBytes -= putOpBytes(key, old.length);
    this.locations.delete(key);
    this.keys.remove(key);
  }

  /** Every live entry whose value is in `file`, in file order (what compaction copies). */
  entriesIn(file: LogFile): Array<[string, ValueLocation]> {
    const out: Array<[string, ValueLocation]> = [];
    for (const entry of this.locations) if (entry[1].file === file) out.push(entry);
    return out.sort((a, b) => a[1].offset - b[1].offset);
  }

  /** Points every entry in `from` at its new place, given by `relocate(key, oldOffset)`. */
  move(from: LogFile, to: LogFile, relocate: (key: string, offset: number) => number): void {
    for (const [key, loc] of this.locations) {
      if (loc.file === from) this.locations.set(key, { file: to, offset: relocate(key, loc.offset), length: loc.length });
    }
  }
}
