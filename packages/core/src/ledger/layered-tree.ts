/**
 * Runs: batches of changes kept as small trees of their own in front of a
 * ledger tree, merged into it only once they hold enough changes to make
 * that pay. A log-structured merge in the manner of LevelDB, over prolly
 * trees.
 *
 * Why: folding a batch of changes into a tree rewrites every leaf the
 * batch touches. A batch of sequential keys touches the last few leaves;
 * a batch of 10,000 random keys (documents with random ids, the change
 * feed's per-document entries, the event index by CID) touches most of
 * them: ~8,500 of the ~31,000 leaves of a million-document state tree. A
 * million-document load with random ids did that a hundred times
 * (measured: 262 s, 3,800 docs/s, against PouchDB's ~23,000). As a run,
 * the same batch is a tree built from the sorted batch: a few hundred new
 * leaves, written once. A merge of many runs then rewrites each leaf of
 * the main tree once for dozens of changes.
 *
 * Reads look a key up in the runs, newest first, each skipped when its
 * Bloom filter says the key is not there, then in the main tree. A run
 * stores a deletion as `null` (no value the ledger stores is null). Range
 * reads and the root merge the runs in first.
 *
 * Each run's tree has a tag of its own (`<name>/run/<n>`), so no node is
 * shared between two runs or with the main tree: deleting a merged run's
 * nodes never breaks another tree (see `tree-delta.ts`).
 *
 * @module
 */
import type { Block } from "../codec/block.js";
import { isPromiseLike } from "../crdt/prolly-node.js";
import { ProllyTree, withFanout, fanoutBitsOf, type NodeSource, type TreeNode } from "../crdt/prolly.js";
import type { EntryBatch } from "../crdt/prolly-read.js";
import { BloomFilter, keyHashes } from "./bloom.js";
import type { KeyFilter } from "./key-filter.js";
import { EncodedCbor } from "../codec/cbor.js";
import { SlabCopier } from "../codec/slab.js";

/** One run: its tree, a Bloom filter of its keys, and how many entries it holds. */
export interface Run {
  /** Its number: part of its tag, so unique in the ledger. */
  readonly n: number;
  readonly tree: ProllyTree;
  readonly bloom: BloomFilter;
  readonly entries: number;
  /**
   * The keys the Bloom filter was made to answer for (absent: every key).
   * A key outside them is looked up in the run whatever the filter says.
   * The local tree's runs leave out its change feed (`s/<seq>`, read only
   * in ranges): half their keys, and half of the filters every checkpoint
   * records.
   */
  readonly lookedUp?: (key: string) => boolean;
}

/** How a run is recorded in a checkpoint. */
export interface RunRecord {
  readonly n: number;
  readonly root: Block["cid"];
  readonly entries: number;
  readonly bloom: Uint8Array;
}

/** The tag of run `n` in front of the tree tagged `tag`: same fan-out, a name of its own. */
export function runTag(tag: string, n: number): string {
  const at = tag.indexOf("@");
  if (at < 0) return `${tag}/run/${n}`;
  return withFanout(`${tag.slice(0, at)}/run/${n}`, 1 << fanoutBitsOf(tag));
}

/**
 * The value of `key`: from the newest run that holds it (a deletion there
 * reads as absent), else from `main`. `mainKeys` (`key-filter.ts`), if
 * given, holds every key `main` holds and those of the runs numbered from
 * its `runsFrom` on (up to its `runsBefore`): a key it has never seen is
 * looked up only in the other runs (a key written for the first time, in
 * none), not in `main`.
 * Synchronous when every node on the way is in memory, else a promise
 * (test with `isPromiseLike`).
 */
export function lookupThrough(runs: readonly Run[], main: ProllyTree, key: string, mainKeys?: KeyFilter): unknown {
  // Hashed once for every filter on the way (a resumed lookup hashes again: others may have hashed since).
  keyHashes(key);
  const unseen = mainKeys !== undefined && !mainKeys.hasHashed(key);
  const unseenFrom = unseen ? mainKeys.runsFrom : Infinity;
  const unseenBefore = unseen ? mainKeys.runsBefore : Infinity;
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]!;
    if (run.n >= unseenFrom && run.n < unseenBefore) continue;
    if ((run.lookedUp === undefined || run.lookedUp(key)) && !run.bloom.hasHashed()) continue;
    const found = run.tree.lookup(key);
    if (isPromiseLike(found)) return found.then((value) => (value === undefined ? lookupThrough(runs.slice(i + 1), main, key, mainKeys) : value === null ? undefined : value));
    if (found !== undefined) return found === null ? undefined : found;
    keyHashes(key);
  }
  if (unseen) return undefined;
  return main.lookup(key);
}

/**
 * Builds run `n` for the tree tagged `tag` from `changes` (sorted by key,
 * unique; `undefined` deletes, stored as `null`). Returns it and the nodes
 * it made. Its Bloom filter holds the keys `lookedUp` accepts (every key
 * without it; see {@link Run.lookedUp}).
 */
export async function buildRun(
  tag: string, n: number, changes: ReadonlyArray<readonly [string, unknown]>, source: NodeSource, lookedUp?: (key: string) => boolean,
): Promise<{ run: Run; created: Block<TreeNode>[] }> {
  const { tree, created } = await ProllyTree.build(runTag(tag, n), changes.map(([k, v]) => [k, v === undefined ? null : v] as const), source);
  const keys: string[] = [];
  for (const [key] of changes) if (lookedUp === undefined || lookedUp(key)) keys.push(key);
  const run: Run = { n, tree, bloom: BloomFilter.of(keys, keys.length), entries: changes.length, ...(lookedUp && { lookedUp }) };
  return { run, created };
}

/**
 * Run `n` of the tree tagged `tag`, as a checkpoint recorded it.
 * `lookedUp`: as {@link buildRun} was given (a filter recorded before it
 * left keys out holds them all, which answers the same).
 */
export function openRun(tag: string, record: RunRecord, source: NodeSource, lookedUp?: (key: string) => boolean): Run {
  const tree = ProllyTree.open(runTag(tag, record.n), record.root, source);
  return { n: record.n, tree, bloom: BloomFilter.decode(record.bloom), entries: record.entries, ...(lookedUp && { lookedUp }) };
}

/** How a checkpoint records `run`. */
export function runRecord(run: Run): RunRecord {
  return { n: run.n, root: run.tree.root, entries: run.entries, bloom: run.bloom.bytes };
}

/** Where a merge stands in one run: the leaf's worth of entries it is at, and the rest of the run. */
interface Cursor {
  readonly rest: AsyncIterator<EntryBatch>;
  batch: EntryBatch | undefined;
  at: number;
}

/**
 * Every entry of some runs in key order, the newest run's value winning
 * (deletions as `undefined`, ready for `ProllyTree.mutate`), taken a slice
 * at a time. Holds one leaf's worth of entries a run: a merge of sixteen
 * runs of a million-document load held ~640,000 decoded entries at once
 * (~250 MB of heap) when it gathered them all first. Values come as
 * their bytes (`EncodedCbor`) where the run's leaf keeps them so: every
 * consumer only writes them into another tree.
 *
 * The runs must not change while it reads them (runs never do; one is
 * only deleted once no merge reads it).
 */
export class RunMerge {
  /** Newest run first. */
  readonly #cursors: Cursor[];

  private constructor(cursors: Cursor[]) {
    this.#cursors = cursors;
  }

  /**
   * A merge of `runs` (newest first), at its first entry. Only their trees
   * are read, so the tree the runs lie in front of can be given too, last.
   */
  static async of(runs: ReadonlyArray<Pick<Run, "tree">>): Promise<RunMerge> {
    const cursors = await Promise.all(
      runs.map(async (run) => {
        const rest = run.tree.batches()[Symbol.asyncIterator]();
        const first = await rest.next();
        return { rest, batch: first.done ? undefined : first.value, at: 0 };
      }),
    );
    return new RunMerge(cursors);
  }

  /** The next `max` entries, or fewer at the end (none once every entry was taken). */
  async next(max: number): Promise<Array<readonly [string, unknown]>> {
    const out: Array<readonly [string, unknown]> = [];
    const cursors = this.#cursors;
    while (out.length < max) {
      let newest = -1;
      let key = "";
      for (let c = 0; c < cursors.length; c++) {
        const batch = cursors[c]!.batch;
        if (batch === undefined) continue;
        const k = batch.keys[cursors[c]!.at]!;
        // Strictly smaller only: on equal keys the newer run (lower index) stays.
        if (newest < 0 || k < key) {
          newest = c;
          key = k;
        }
      }
      if (newest < 0) break;
      const value = valueOf(cursors[newest]!.batch!, cursors[newest]!.at);
      out.push([key, value === null ? undefined : value]);
      for (const cursor of cursors) {
        if (cursor.batch !== undefined && cursor.batch.keys[cursor.at] === key && ++cursor.at === cursor.batch.keys.length) {
          const next = await cursor.rest.next();
          cursor.batch = next.done ? undefined : next.value;
          cursor.at = 0;
        }
      }
    }
    return out;
  }
}

/**
 * Entry `at` of `batch` for a merge: its bytes when the leaf keeps them
 * (copied into the next tree as they are), else the value; `null` for a
 * deletion either way.
 */
function valueOf(batch: EntryBatch, at: number): unknown {
  const encoded = batch.encodedValue?.(at);
  if (encoded === undefined) return batch.value(at);
  return encoded.bytes.length === 1 && encoded.bytes[0] === CBOR_NULL ? null : new EncodedCbor(mergedValues.copy(encoded.bytes));
}

/** dag-cbor's `null`: how a run stores a deletion. */
const CBOR_NULL = 0xf6;

/** Merged values are copied out of their run leaves: a view kept the whole leaf alive (the 1M random-id load's peak rose ~30 MB). */
const mergedValues = new SlabCopier(64 * 1024, 4096);

/** Every entry of `runs` (newest first), as {@link RunMerge} gives them, in slices of `slice` handed to `take`. */
export async function mergeRunsInto(runs: readonly Run[], slice: number, take: (changes: Array<readonly [string, unknown]>) => Promise<void>): Promise<void> {
  const merge = await RunMerge.of(runs);
  for (let changes = await merge.next(slice); changes.length > 0; changes = await merge.next(slice)) await take(changes);
}
