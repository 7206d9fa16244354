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

/**
 * Key → {@link ValueLocation}, with sorted listing and a live-byte count.
 *
 * Locations live in typed arrays indexed by a slot number, and the map holds
 * only `key → slot` (a small integer). Building the index is most of the
 * cost of opening a store, and one object per key made that several times
 * slower, mostly in garbage collection.
 */
export class LogIndex {
  private readonly slots = new Map<string, number>();
  private offsets = new Float64Array(1024);
  private lengths = new Float64Array(1024);
  /** Generation of the log file holding each slot's value. */
  private generations = new Float64Array(1024);
  private readonly freeSlots: number[] = [];
  private slotCount = 0;
  private readonly files = new Map<number, LogFile>();
  private readonly keys = new SortedKeys();
  /** Bytes the live puts would occupy in a freshly compacted log (ops only, no frame headers). */
  liveBytes = 0;

  /** Where `key`'s value is, if it has one. */
  get(key: string): ValueLocation | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    return this.locationAt(slot);
  }

  /** Keys with `prefix`, ascending. */
  list(prefix: string): string[] {
    return this.keys.list(prefix);
  }

  /** Number of live keys. */
  get size(): number {
    return this.slots.size;
  }

  /** Records a put of a value at `offset` (absolute) in `file`. */
  put(key: string, file: LogFile, offset: number, length: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.allocateSlot();
      this.slots.set(key, slot);
      this.keys.add(key);
    } else {
      this.liveBytes -= putOpBytes(key, this.lengths[slot] as number);
    }
    if (this.files.get(file.generation) !== file) this.files.set(file.generation, file);
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
    this.generations[slot] = file.generation;
    this.liveBytes += putOpBytes(key, length);
  }

  /** Records a delete (of a key that may be absent). */
  del(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    this.liveBytes -= putOpBytes(key, this.lengths[slot] as number);
    this.slots.delete(key);
    this.freeSlots.push(slot);
    this.keys.remove(key);
  }

  /** Every live entry whose value is in `file`, in file order (what compaction copies). */
  entriesIn(file: LogFile): Array<[string, ValueLocation]> {
    const out: Array<[string, ValueLocation]> = [];
    for (const [key, slot] of this.slots) {
      if (this.generations[slot] === file.generation) out.push([key, this.locationAt(slot)]);
    }
    return out.sort((a, b) => a[1].offset - b[1].offset);
  }

  /** Points every entry in `from` at its new place in `to`, given by `relocate(key, oldOffset)`. */
  move(from: LogFile, to: LogFile, relocate: (key: string, offset: number) => number): void {
    this.files.set(to.generation, to);
    for (const [key, slot] of this.slots) {
      if (this.generations[slot] !== from.generation) continue;
      this.offsets[slot] = relocate(key, this.offsets[slot] as number);
      this.generations[slot] = to.generation;
    }
    this.files.delete(from.generation);
  }

  private locationAt(slot: number): ValueLocation {
    return {
      file: this.files.get(this.generations[slot] as number) as LogFile,
      offset: this.offsets[slot] as number,
      length: this.lengths[slot] as number,
    };
  }

  private allocateSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.slotCount === this.offsets.length) {
      const grow = (old: Float64Array): Float64Array<ArrayBuffer> => {
        const bigger = new Float64Array(old.length * 2);
        bigger.set(old);
        return bigger;
      };
      this.offsets = grow(this.offsets);
      this.lengths = grow(this.lengths);
      this.generations = grow(this.generations);
    }
    return this.slotCount++;
  }
}
