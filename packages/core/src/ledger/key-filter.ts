/**
 * A growing Bloom filter of every key a ledger tree holds, so a lookup of
 * a key the tree does not hold is answered without reading the tree.
 *
 * Why: a document written for the first time is looked up before it is
 * written (its register, its last change). Under random ids in a large
 * tree that lookup lands on a leaf no other recent lookup touched: a store
 * read, decryption and inflation, ~50–80 µs, for an answer of "absent".
 * Measured with exact key sets standing in for this filter, a 500,000
 * document random-id load on the file store went from 44.4 to 33.1 s.
 *
 * Kept only for trees whose changes go into runs (`layered-tree.ts`): in
 * front of such a tree nothing else answers "absent" cheaply, and the
 * tree itself changes only when runs are merged into it, so the filter is
 * rewritten rarely. A tree whose changes fold in order (sequential ids)
 * reads the same few leaves over and over and needs no filter.
 *
 * The filter grows in stages (a scalable Bloom filter): keys go into the
 * newest stage until it holds its capacity, then into a new one twice its
 * size. A lookup probes every stage. A full stage never changes again, so
 * a checkpoint writes only the stages that changed since the last one.
 * Sixteen bits a key: ~0.05 % false positives a full stage, ~0.3 % at
 * most over a million keys (7 stages); a false positive costs one tree
 * lookup, what every lookup cost without the filter. Memory: 2 bytes a
 * key once a stage is full, 4 at most. (Stages were twelve bits a key
 * before: ~0.3 % a stage, and 1.4 % of a million-document random-id
 * load's lookups of new documents, 24,203 of 1,756,000, went on to read
 * the tree. Those stages are still read.)
 *
 * A key is never taken out (Bloom filters cannot forget): a tree's
 * deleted keys stay "maybe here" until the filter is rebuilt, which costs
 * a needless lookup, never a wrong answer.
 *
 * The filter also holds the keys of the tree's runs made since it was
 * ({@link KeyFilter.runsFrom}): a key written for the first time is then
 * answered "absent" by this one filter instead of by each run's own, one
 * after another. Past a dozen runs those were most of a random-id load's
 * lookups: ~30 ns a run, two lookups a document, up to 31 runs. (The runs a
 * checkpoint recorded are older than the filter that opens with them, even
 * if the stored stages hold their keys: they are asked one by one until
 * merged away.)
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { BloomFilter, keyHashes } from "./bloom.js";

/** Bits a key of a new stage: see the module docs. */
const BITS_PER_KEY = 16;
/** Bits a key of stages stored before, still read. */
const OLD_BITS_PER_KEY = 12;
/** The first stage's capacity; each next one holds twice the last. */
const FIRST_STAGE_KEYS = 8_192;

/** How a checkpoint records one stage: the record its bits are stored in, and how many keys it holds. */
export interface KeyFilterStageRecord {
  /** The stage's record number (its bits are stored under `kf/<n>`, see `keys.ts`). */
  readonly n: number;
  /** Keys added to it. */
  readonly keys: number;
}

/** One stage: a Bloom filter of fixed size, the keys added, and where it is stored if it has not changed since. */
interface Stage {
  readonly filter: BloomFilter;
  readonly capacity: number;
  keys: number;
  /** The record holding these bits, if any: all of them, or all but those of run keys added since ({@link runBitsUnstored}). */
  stored: number | undefined;
  /** Run keys set bits the record under {@link stored} lacks: it still holds every tree key added before them. */
  runBitsUnstored: boolean;
}

/** A stage a checkpoint writes or keeps, and what it learns once the checkpoint is durable. */
export interface KeyFilterPlan {
  /** How the checkpoint records the filter. */
  readonly stages: KeyFilterStageRecord[];
  /** Records to write: changed stages, under new numbers. */
  readonly put: Array<readonly [number, Uint8Array]>;
  /** Call once the checkpoint is durable: the written stages are stored. */
  readonly written: () => void;
}

/** See the module docs. */
export class KeyFilter {
  readonly #stages: Stage[];
  /** Which keys the filter holds; a lookup of any other key is always "maybe". */
  readonly #covers: (key: string) => boolean;
  /**
   * The first run number whose keys this filter holds: its owner adds the
   * keys of every run it makes from this number on, as well as every key
   * its tree takes. A key the filter has never seen is in none of those,
   * so only the tree's older runs can hold it.
   */
  readonly runsFrom: number;
  /**
   * The first run number whose keys the filter no longer holds
   * ({@link stopTakingRuns}); runs from it on answer for themselves, by
   * their own Bloom filters.
   */
  #runsBefore = Number.POSITIVE_INFINITY;

  private constructor(stages: Stage[], covers: (key: string) => boolean, runsFrom: number) {
    this.#stages = stages;
    this.#covers = covers;
    this.runsFrom = runsFrom;
  }

  /** An empty filter of the keys `covers` accepts, holding the keys of the runs numbered from `runsFrom` on (see {@link runsFrom}). */
  static empty(covers: (key: string) => boolean = () => true, runsFrom = Number.MAX_SAFE_INTEGER): KeyFilter {
    return new KeyFilter([], covers, runsFrom);
  }

  /**
   * The filter a checkpoint recorded, with each stage's bits as read from
   * its record, holding the keys of the runs numbered from `runsFrom` on
   * (the checkpoint's next run number: none of those it recorded).
   * @throws HearthError `INTEGRITY` if a stage's bits do not fit its record
   */
  static open(
    stages: ReadonlyArray<{ record: KeyFilterStageRecord; bytes: Uint8Array }>, covers: (key: string) => boolean = () => true, runsFrom = Number.MAX_SAFE_INTEGER,
  ): KeyFilter {
    let capacity = FIRST_STAGE_KEYS;
    const opened = stages.map(({ record, bytes }) => {
      const filter = BloomFilter.decode(bytes);
      const sized = bytes.length === BloomFilter.byteLength(capacity, BITS_PER_KEY) || bytes.length === BloomFilter.byteLength(capacity, OLD_BITS_PER_KEY);
      if (!sized || !(record.keys <= capacity)) {
        throw new HearthError("INTEGRITY", `key filter record kf/${record.n} does not fit its stage; the store is damaged`);
      }
      const stage: Stage = { filter, capacity, keys: record.keys, stored: record.n, runBitsUnstored: false };
      capacity *= 2;
      return stage;
    });
    return new KeyFilter(opened, covers, runsFrom);
  }

  /** The first run number the filter holds no keys of (see {@link stopTakingRuns}); runs from {@link runsFrom} up to it it holds. */
  get runsBefore(): number {
    return this.#runsBefore;
  }

  /**
   * Says the owner will not add the keys of run `n` or any later run: a
   * key the filter has not seen may still be in those, so lookups ask them.
   * For a ledger's closing spill: the in-memory filter dies with the close,
   * and the stored stages never hold run keys, so adding them (a sixth of a
   * close after a random-id load) bought nothing.
   */
  stopTakingRuns(n: number): void {
    this.#runsBefore = Math.min(this.#runsBefore, n);
  }

  /** Keys added (counting a key each time it was added while not already "maybe here"). */
  get keys(): number {
    return this.#stages.reduce((sum, stage) => sum + stage.keys, 0);
  }

  /**
   * Adds `key` (if the filter covers it). `ofRun`: the key is one of a new
   * run's, not the tree's: the stage it goes into is not written again for
   * it (a stored stage need only hold the tree's keys, see
   * {@link runsFrom}), so a checkpoint after each spill does not rewrite
   * a stage of up to a megabyte.
   */
  add(key: string, ofRun = false): void {
    if (!this.#covers(key)) return;
    // Hashed once: for the check, then for the stage that takes it.
    keyHashes(key);
    for (const stage of this.#stages) {
      if (!stage.filter.hasHashed()) continue;
      // "Maybe" here: a tree key must be in the stored record too, which lacks the bits of run keys added since.
      if (!ofRun && stage.runBitsUnstored) stage.stored = undefined;
      return;
    }
    let stage = this.#stages[this.#stages.length - 1];
    if (stage === undefined || stage.keys >= stage.capacity) {
      const capacity = stage === undefined ? FIRST_STAGE_KEYS : stage.capacity * 2;
      stage = { filter: BloomFilter.empty(capacity, BITS_PER_KEY), capacity, keys: 0, stored: undefined, runBitsUnstored: false };
      this.#stages.push(stage);
    }
    stage.filter.addHashed();
    stage.keys++;
    if (!ofRun) stage.stored = undefined;
    else if (stage.stored !== undefined) stage.runBitsUnstored = true;
  }

  /** False if `key` was certainly never added (and the filter covers it); true if it may have been. */
  has(key: string): boolean {
    keyHashes(key);
    return this.hasHashed(key);
  }

  /** {@link has} for the key {@link keyHashes} was last called with (`key` itself). */
  hasHashed(key: string): boolean {
    if (!this.#covers(key)) return true;
    for (const stage of this.#stages) if (stage.filter.hasHashed()) return true;
    return false;
  }

  /**
   * What a checkpoint writes of the filter: the stages that changed since
   * it was last stored, each under a new record number from `next`.
   */
  plan(next: () => number): KeyFilterPlan {
    const writes: Array<{ stage: Stage; n: number }> = [];
    const stages = this.#stages.map((stage) => {
      if (stage.stored !== undefined) return { n: stage.stored, keys: stage.keys };
      const n = next();
      writes.push({ stage, n });
      return { n, keys: stage.keys };
    });
    // Copies: the filter may take keys before the write is sealed.
    const put = writes.map(({ stage, n }) => [n, stage.filter.bytes.slice()] as const);
    const keysAt = writes.map(({ stage }) => stage.keys);
    return {
      stages,
      put,
      written: () => writes.forEach(({ stage, n }, i) => {
        // A stage that took keys since the plan changed again: it is written at the next checkpoint.
        if (stage.keys === keysAt[i]) {
          stage.stored = n;
          stage.runBitsUnstored = false;
        }
      }),
    };
  }
}
