/**
 * An external merge sort through the ledger's own store, for sorts too big
 * to hold in memory: building a secondary index over a million documents
 * emits two million rows in document order that the index tree needs in
 * key order.
 *
 * Sorted runs are written as blocks of entries under a key prefix (through
 * the encryption layer, like everything else the ledger stores: the rows
 * hold document values), then merged, reading one block per run at a time;
 * the last run can be merged from memory instead ({@link SpillSort.merge}).
 * Memory is one run while writing and one block per run while merging
 * (plus the last run, if it is merged from memory).
 *
 * Why by hand: what this needs is a sort over an encrypted key-value store
 * that works the same on files, IndexedDB and memory; the external-sort
 * packages on npm sort files or streams of lines through the file system.
 *
 * @module
 */
import { decodeDagCbor, encodeDagCbor } from "../codec/cbor.js";
import { HearthError } from "../errors.js";
import type { ByteStore } from "../store/types.js";
import { seqText } from "./keys.js";

/** A key and its value; values must be dag-cbor (no `undefined`). */
export type SortEntry = readonly [key: string, value: unknown];

/** Entries per stored block: ~50–100 KB of rows. */
const BLOCK_ENTRIES = 2_048;

/** Sorts `entries` in place by key (plain string order, as the trees and stores use). */
export function sortByKey(entries: SortEntry[]): SortEntry[] {
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Sorted runs stored under one key prefix, and their merge. One sort per prefix at a time. */
export class SpillSort {
  readonly #store: ByteStore;
  readonly #prefix: string;
  /** Blocks in each run written so far. */
  readonly #runs: number[] = [];

  /**
   * @param store - where the runs go (the ledger's encrypting store)
   * @param prefix - a key prefix no other data uses
   */
  constructor(store: ByteStore, prefix: string) {
    this.#store = store;
    this.#prefix = prefix;
  }

  /** Runs written so far. */
  get runs(): number {
    return this.#runs.length;
  }

  /** Deletes every block under the prefix: this sort's, or an interrupted one's. */
  async clear(): Promise<void> {
    const keys = await this.#store.list(this.#prefix);
    if (keys.length > 0) await this.#store.write({ del: keys }, { background: true });
    this.#runs.length = 0;
  }

  /** Stores one run; `sorted` must be in key order, each key once. */
  async addRun(sorted: ReadonlyArray<SortEntry>): Promise<void> {
    const run = this.#runs.length;
    const put: Array<readonly [string, Uint8Array]> = [];
    for (let at = 0; at < sorted.length; at += BLOCK_ENTRIES) {
      const flat: unknown[] = [];
      for (let i = at; i < Math.min(at + BLOCK_ENTRIES, sorted.length); i++) flat.push(sorted[i]![0], sorted[i]![1]);
      put.push([this.#blockKey(run, put.length), encodeDagCbor(flat)]);
    }
    await this.#store.write({ put }, { background: true });
    this.#runs.push(put.length);
  }

  /**
   * The entries of every run in key order, handed out `max` at a time. A
   * key in several runs comes out once, with the latest run's value.
   *
   * `last`, if given, is one more run (in key order, each key once), later
   * than the stored ones, merged from memory and let go of entry by entry
   * as the merge passes them (the array is the merge's now). The caller
   * holds its last run already, and storing it only to read it back cost a
   * run's writes and reads (in IndexedDB, dead records in its log until it
   * compacts: an index build over 100,000 documents spilled two runs, ~430
   * KB).
   */
  async merge(last?: SortEntry[]): Promise<RunMerge> {
    const readers: SortedRun[] = await Promise.all(this.#runs.map(async (blocks, run) => {
      const reader = new RunReader(this.#store, run, blocks, (block) => this.#blockKey(run, block));
      await reader.load();
      return reader;
    }));
    if (last !== undefined) readers.push(new HeldRun(this.#runs.length, last));
    return new RunMerge(readers.filter((reader) => !reader.done));
  }

  #blockKey(run: number, block: number): string {
    return `${this.#prefix}${seqText(run)}/${seqText(block)}`;
  }
}

/** One run as a {@link RunMerge} reads it: at an entry, stepped in key order. */
interface SortedRun {
  /** The run's number: a later run wins a key. */
  readonly run: number;
  readonly done: boolean;
  readonly key: string;
  readonly value: unknown;
  /** Steps to the next entry; a promise when that needs a read. */
  advance(): void | Promise<void>;
}

/** A run held in memory; each entry is let go of once passed. */
class HeldRun implements SortedRun {
  readonly #entries: Array<SortEntry | undefined>;
  #at = 0;

  constructor(readonly run: number, entries: SortEntry[]) {
    this.#entries = entries;
  }

  get done(): boolean {
    return this.#at >= this.#entries.length;
  }

  get key(): string {
    return this.#entries[this.#at]![0];
  }

  get value(): unknown {
    return this.#entries[this.#at]![1];
  }

  advance(): void {
    this.#entries[this.#at++] = undefined;
  }
}

/** One run, read a block at a time. */
class RunReader implements SortedRun {
  readonly #store: ByteStore;
  readonly #blocks: number;
  readonly #keyOf: (block: number) => string;
  #next = 0;
  /** The current block: keys and values alternating. */
  #flat: unknown[] = [];
  #at = 0;

  constructor(store: ByteStore, readonly run: number, blocks: number, keyOf: (block: number) => string) {
    this.#store = store;
    this.#blocks = blocks;
    this.#keyOf = keyOf;
  }

  get done(): boolean {
    return this.#at >= this.#flat.length;
  }

  get key(): string {
    return this.#flat[this.#at] as string;
  }

  get value(): unknown {
    return this.#flat[this.#at + 1];
  }

  /** Steps to the next entry; a promise when that needs the next block. */
  advance(): void | Promise<void> {
    this.#at += 2;
    if (this.#at >= this.#flat.length && this.#next < this.#blocks) return this.load();
  }

  /** Reads the next block. */
  async load(): Promise<void> {
    if (this.#next >= this.#blocks) return;
    const key = this.#keyOf(this.#next);
    const bytes = await this.#store.get(key);
    if (bytes === undefined) {
      throw new HearthError("STORAGE_FAILED", `the store lost ${key}, a block of an index build in progress; run the query again to rebuild the index`);
    }
    this.#flat = decodeDagCbor<unknown[]>(bytes);
    this.#at = 0;
    this.#next++;
  }
}

/** The k-way merge of {@link SpillSort}'s runs: a binary heap of readers ordered by (key, run). */
export class RunMerge {
  readonly #heap: SortedRun[];

  constructor(readers: SortedRun[]) {
    this.#heap = readers;
    for (let i = (readers.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  /**
   * About `max` next entries in key order (more when entries of one key
   * straddle the `max`-th); empty when the runs are spent.
   */
  async next(max: number): Promise<SortEntry[]> {
    const out: SortEntry[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && (out.length < max || heap[0]!.key === out[out.length - 1]![0])) {
      const top = heap[0]!;
      const entry: SortEntry = [top.key, top.value];
      // Equal keys: the later run sorts after, so its value replaces this one.
      if (out.length > 0 && out[out.length - 1]![0] === entry[0]) out[out.length - 1] = entry;
      else out.push(entry);
      const stepped = top.advance();
      if (stepped !== undefined) await stepped;
      if (top.done) {
        const last = heap.pop()!;
        if (heap.length === 0) break;
        heap[0] = last;
      }
      this.#down(0);
    }
    return out;
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) return;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, heap[i]!)) return;
      [heap[i], heap[child]] = [heap[child]!, heap[i]!];
      i = child;
    }
  }
}

function before(a: SortedRun, b: SortedRun): boolean {
  return a.key < b.key || (a.key === b.key && a.run < b.run);
}
