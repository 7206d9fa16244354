/**
 * Secondary indexes for `query`: sorted trees from emitted keys to
 * documents, kept up to date incrementally from the local change feed, and
 * persisted with each checkpoint.
 *
 * An index is identified by name: `field:<name>` for a field, the map
 * function's source for an anonymous function, or the `index` option. Each
 * index remembers its source; when a named index's function changes, the
 * index is rebuilt from scratch, so a query never mixes old and new keys.
 *
 * Index tree keys: `k<encodedKey><docId>` → `{k, v, i}` for each emitted row,
 * and `r<docId>` → the `k…` keys that document emitted, so a changed
 * document's old rows can be removed without scanning.
 *
 * Memory is bounded however big the ledger: a build sorts its rows in runs
 * spilled to the store and merges them ({@link ./spill-sort}), and any long
 * catch-up is checkpointed as it goes. (Sorting a million-document build
 * in one piece peaked at 1.16 GB.)
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { ProllyTree, withFanout } from "../crdt/prolly.js";
import { isPromiseLike } from "../crdt/prolly-node.js";
import type { Register } from "../crdt/register.js";
import { HearthError } from "../errors.js";
import { normalizeDoc, type DocBody, type JsonValue } from "../doc/normalize.js";
import { encodedKeyEnd, encodeKey } from "./collate.js";
import { COSTLY_RECORD_FANOUT, SMALL_ENTRY_FANOUT, smallEntryFanout, type IndexCheckpoint, type LedgerState } from "./state.js";
import { cloneJson } from "./clone.js";
import type { Doc } from "./types.js";
import { local } from "./keys.js";
import type { NodeCache } from "./node-cache.js";
import { SpillSort, sortByKey, type SortEntry } from "./spill-sort.js";
import type { ByteStore } from "../store/types.js";

/** Emits one index row: `key` (any JSON value) and an optional `value` (default null). */
export type EmitFn = (key: JsonValue, value?: JsonValue) => void;

/**
 * A map function. Call `emit` any number of times, or return a key (the row's
 * value is then null). Returning `undefined` without emitting indexes nothing.
 */
export type MapFn = (doc: Doc & Record<string, JsonValue>, emit: EmitFn) => unknown;

/**
 * A stored row of an index tree, under the tree key `k<encodeKey(k)><id>`.
 * The value is left out when it is null, and the document's id is read
 * from the tree key ({@link rowId}): rows of indexes built before 2026-12-06
 * also hold it as `i` (and always `v`), and are read as they are. A
 * document's entry `r<id>` lists its rows' encoded keys (older indexes:
 * their whole tree keys, which start with `k`, as no encoded key does).
 */
export interface IndexRow {
  readonly k: JsonValue;
  readonly v?: JsonValue;
  readonly i?: string;
}

/** The id of the document of `row`, stored under `treeKey`. */
export function rowId(treeKey: string, row: IndexRow): string {
  return row.i ?? treeKey.slice(encodedKeyEnd(treeKey, 1));
}

/** The tree key of the row of document `id` under the encoded key `encoded`. */
function rowKey(encoded: string, id: string): string {
  return `k${encoded}${id}`;
}

/** The tree key of the row of document `id` that an `r<id>` entry lists as `listed` (see {@link IndexRow}). */
function listedRowKey(listed: string, id: string): string {
  return listed.startsWith("k") ? listed : rowKey(listed, id);
}

interface IndexDef {
  readonly name: string;
  readonly src: string;
  /** Rows for one live document. Field indexes read the body as is; map functions get a copy. */
  readonly map: (id: string, body: DocBody) => Array<[JsonValue, JsonValue]>;
}

interface LiveIndex {
  readonly def: IndexDef;
  tree: ProllyTree;
  seq: number;
  /** Root as of the last checkpoint (undefined: never checkpointed). */
  stored: CID | undefined;
}

/** Describes the index for `spec`; see the module docs for naming. */
export function describeIndex(spec: string | MapFn, name?: string): IndexDef {
  if (typeof spec === "string") {
    if (spec.length === 0) throw new TypeError("query field name must not be empty");
    const field = spec;
    return {
      name: name ?? `field:${field}`,
      src: `field:${field}`,
      map: (id, body) => {
        const value = field === "_id" ? id : body[field];
        return value === undefined ? [] : [[value, null]];
      },
    };
  }
  if (typeof spec !== "function") throw new TypeError("query needs a field name or a map function");
  const src = spec.toString();
  return { name: name ?? `map:${src}`, src: `map:${src}`, map: (id, body) => runMap(spec, id, body) };
}

// The function gets its own copy, so it cannot alter the ledger's state.
function runMap(fn: MapFn, id: string, body: DocBody): Array<[JsonValue, JsonValue]> {
  const rows: Array<[JsonValue, JsonValue]> = [];
  let returned: unknown;
  try {
    returned = fn({ _id: id, ...cloneJson(body) }, (key, value) => {
      rows.push([checkEmitted(key, id, "key"), checkEmitted(value ?? null, id, "value")]);
    });
  } catch (cause) {
    if (cause instanceof HearthError) throw cause;
    throw new HearthError("INVALID_ARGUMENT", `the map function threw on document ${JSON.stringify(id)}; fix the function (it must handle every document)`, { cause });
  }
  if (rows.length === 0 && returned !== undefined) rows.push([checkEmitted(returned, id, "key"), null]);
  return rows;
}

function checkEmitted(value: unknown, id: string, what: string): JsonValue {
  try {
    return normalizeDoc({ x: value }).body.x ?? null;
  } catch (cause) {
    throw new HearthError("INVALID_ARGUMENT", `the map function emitted a ${what} that is not JSON for document ${JSON.stringify(id)}`, { cause });
  }
}

/**
 * Changes an index with rows takes in between two checkpoints while it
 * catches up: the old and new rows of 25,000 documents (~30 MB for a field
 * index). Each slice rewrites the leaves its rows fall in, so a catch-up
 * over most of a big ledger with keys spread over the whole index rewrites
 * most leaves once per slice; a fresh build has no such cost (see
 * {@link Indexes}' `#build`).
 */
const CATCH_UP_SLICE = 25_000;

/**
 * Rows of a spilled build's merge written to the tree between two
 * checkpoints: the nodes they make are held until the checkpoint.
 */
const MERGE_SLICE_ENTRIES = 50_000;

/**
 * Share of the cache budget (the `cacheBytes` open option) an index build
 * may hold in rows before it sorts them and spills them to the store, as
 * estimated by {@link rowBytes}; never less than {@link MIN_RUN_BYTES}.
 *
 * Why bytes and not a count of rows: a count (50,000 rows, once) let a map
 * function that emits whole documents hold 50,000 of them, whatever their
 * size, and made builds of small rows spill early: at 50,000 documents
 * (100,000 rows) every `done === true` build in the browser bench sealed,
 * stored, read back and deleted its rows, leaving their deleted records in
 * IndexedDB's log. With the default budget (64 MiB) a run holds 16 MiB of
 * rows as estimated, ~110,000 small ones (~150 bytes each estimated, ~175
 * measured on V8). Measured: the browser bench at 50,000 documents, query
 * build 709–814 → 579–610 ms and 4.34 → 3.87 MB stored; the Node scale
 * bench at 100,000, 1,139 → 995 ms, and at 1M (spilled either way) 8.5 →
 * 8.7 s at a peak of 332 → 341 MB. Half the budget (32 MiB) took the 1M
 * build to 12.1 s and 437 MB: runs that big cost more than they save.
 */
const RUN_SHARE = 0.25;
/** The smallest run budget, for tiny cache budgets: a spill per few thousand rows would be mostly overhead. */
const MIN_RUN_BYTES = 1024 * 1024;
/** What a sorted entry costs besides its key's and value's contents: the pair, the key string's header, the row object. */
const ENTRY_OVERHEAD_BYTES = 128;

/** Where an index build spills its sorted runs (see {@link SpillSort}). */
const SPILL_PREFIX = "xs/";

/** The live indexes of one ledger. */
export class Indexes {
  readonly #nodes: NodeCache;
  readonly #store: ByteStore;
  /** Entries a node of an index built now holds, by how costly the store's records are. */
  readonly #fanout: number;
  readonly #live = new Map<string, LiveIndex>();
  /** Checkpointed indexes not opened this session; carried into the next checkpoint untouched. */
  readonly #dormant = new Map<string, IndexCheckpoint>();

  /**
   * @param nodes - where the index trees' nodes live
   * @param store - the ledger's (encrypting) store, where big builds spill their sorts
   * @param checkpointed - the indexes the last checkpoint recorded
   */
  constructor(nodes: NodeCache, store: ByteStore, checkpointed: Record<string, IndexCheckpoint>) {
    this.#nodes = nodes;
    this.#store = store;
    this.#fanout = smallEntryFanout(store);
    for (const [name, ix] of Object.entries(checkpointed)) this.#dormant.set(name, ix);
  }

  /**
   * The index for `def`, brought up to date with `state` (whose trees must
   * be folded), and how many changes that took in. Builds it on first use
   * or when its function changed.
   *
   * A long catch-up is taken in slices of {@link CATCH_UP_SLICE} changes,
   * each applied to the tree and then handed to `persist` (the ledger's
   * checkpoint), so a million-document build holds one slice's rows and
   * nodes at a time, not all of them (1.16 GB RSS at 1M in one piece), and
   * a crash loses one slice's work at most.
   */
  async ready(def: IndexDef, state: LedgerState, persist: () => Promise<void>): Promise<{ tree: ProllyTree; caughtUp: number }> {
    let ix = this.#live.get(def.name);
    if (ix && ix.def.src !== def.src) ix = undefined;
    if (!ix) {
      const dormant = this.#dormant.get(def.name);
      const reuse = dormant && dormant.src === def.src;
      const stored = dormant?.root;
      let tree: ProllyTree;
      if (reuse) {
        tree = ProllyTree.open(storedTag(def.name, dormant), dormant.root, this.#nodes);
      } else {
        const empty = await ProllyTree.empty(tagOf(def.name, this.#fanout), this.#nodes);
        this.#nodes.addPending(empty.created);
        tree = empty.tree;
      }
      ix = { def, tree, seq: reuse ? dormant.seq : 0, stored: stored ?? this.#live.get(def.name)?.stored };
      this.#dormant.delete(def.name);
      this.#live.set(def.name, ix);
    }
    const caughtUp = ix.seq < state.seq ? state.seq - ix.seq : 0;
    if (caughtUp > 0) await this.#catchUp(ix, state, persist);
    return { tree: ix.tree, caughtUp };
  }

  /**
   * Takes in the changes after `ix.seq`: {@link #build} from nothing, or
   * {@link #update} an index that has rows.
   */
  async #catchUp(ix: LiveIndex, state: LedgerState, persist: () => Promise<void>): Promise<void> {
    if (ix.seq === 0) await this.#build(ix, state, persist);
    else await this.#update(ix, state, persist);
    ix.seq = state.seq;
  }

  /**
   * Builds the index from nothing. No document has old rows to remove, so
   * rows are only added: they come in document order and go into runs of
   * up to {@link RUN_SHARE} of the cache budget, sorted; a build of one run
   * is applied at once, a bigger one is spilled to the store and merged
   * ({@link SpillSort}; its last run from memory), so the tree is written
   * left to right, each leaf once, {@link MERGE_SLICE_ENTRIES} rows at a
   * time with a checkpoint after each. Those checkpoints record the index
   * at seq 0, and a build always starts from the empty tree, so a partial
   * tree left by a crash or a failure is never read, only replaced.
   */
  async #build(ix: LiveIndex, state: LedgerState, persist: () => Promise<void>): Promise<void> {
    const empty = await ProllyTree.empty(tagOf(ix.def.name, this.#fanout), this.#nodes);
    this.#nodes.addPending(empty.created);
    ix.tree = empty.tree;
    const spill = new SpillSort(this.#store, SPILL_PREFIX);
    const runBudget = Math.max(MIN_RUN_BYTES, Math.floor(this.#nodes.budgetBytes * RUN_SHARE));
    let run: SortEntry[] = [];
    let runBytes = 0;
    // Every document once, in id order, straight from the state tree. (The change feed
    // names the same documents, but reading each one's register through it cost a lookup
    // per document: ~200 ms of a 1.7 s build of 50k documents in Chromium.)
    for await (const batch of state.stateBatches({ reverse: false })) {
      for (const [id, register] of batch) {
        const rows = this.#rowsFor(ix, id, register);
        if (rows.size === 0) continue;
        const listed: string[] = [];
        for (const [key, row] of rows) {
          const treeKey = rowKey(key, id);
          run.push([treeKey, row]);
          runBytes += ENTRY_OVERHEAD_BYTES + treeKey.length + rowBytes(row.k) + (row.v === undefined ? 0 : rowBytes(row.v));
          listed.push(key);
          runBytes += 16 + key.length;
        }
        run.push([`r${id}`, listed]);
        runBytes += ENTRY_OVERHEAD_BYTES + 1 + id.length;
      }
      if (runBytes >= runBudget) {
        if (spill.runs === 0) await spill.clear();
        await spill.addRun(sortByKey(run));
        run = [];
        runBytes = 0;
      }
    }
    if (spill.runs === 0) {
      await this.#apply(ix, sortByKey(run));
      return;
    }
    // The last run is merged from memory: storing it would only read it back.
    const merge = await spill.merge(sortByKey(run));
    run = [];
    for (let slice = await merge.next(MERGE_SLICE_ENTRIES); slice.length > 0; slice = await merge.next(MERGE_SLICE_ENTRIES)) {
      await this.#apply(ix, slice);
      await persist();
    }
    await spill.clear();
  }

  /**
   * Brings an index with rows up to date, {@link CATCH_UP_SLICE} changes
   * at a time, each slice applied and then handed to `persist` (the
   * ledger's checkpoint), so memory holds one slice's rows and nodes. The
   * change feed holds each document once, at its latest change, so the
   * slices touch disjoint documents and read their current bodies: after
   * a slice, the index is exactly as of the slice's last change, which is
   * what the checkpoint records.
   */
  async #update(ix: LiveIndex, state: LedgerState, persist: () => Promise<void>): Promise<void> {
    let changes = new Map<string, unknown>();
    let taken = 0;
    for await (const batch of state.localTree.batches({ gte: local.change(ix.seq + 1), lt: local.CHANGE_END })) {
      for (let b = 0; b < batch.keys.length; b++) {
        const id = batch.value(b) as string;
        const before = (await ix.tree.get(`r${id}`)) as string[] | undefined;
        for (const listed of before ?? []) changes.set(listedRowKey(listed, id), undefined);
        const found = state.registerNow(id);
        const rows = this.#rowsFor(ix, id, isPromiseLike(found) ? await found : found);
        for (const [key, row] of rows) changes.set(rowKey(key, id), row);
        changes.set(`r${id}`, rows.size > 0 ? [...rows.keys()] : undefined);
      }
      taken += batch.keys.length;
      if (taken >= CATCH_UP_SLICE && batch.keys.length > 0) {
        await this.#apply(ix, sortByKey([...changes.entries()]));
        ix.seq = local.seqOfChange(batch.keys[batch.keys.length - 1]!);
        await persist();
        changes = new Map();
        taken = 0;
      }
    }
    await this.#apply(ix, sortByKey([...changes.entries()]));
  }

  /** The index rows of document `id` whose register is `register`, by encoded key (see {@link IndexRow}). */
  #rowsFor(ix: LiveIndex, id: string, register: Register | undefined): Map<string, IndexRow> {
    // One row per key and document: a key emitted twice keeps its last value (two tree
    // entries under one name used to fail the whole index update).
    const rows = new Map<string, IndexRow>();
    if (!register || register.w.d === null) return rows;
    for (const [k, v] of ix.def.map(id, register.w.d)) {
      const key = encodeKey(k);
      rows.delete(key);
      rows.set(key, v === null ? { k } : { k, v });
    }
    return rows;
  }

  /** Applies sorted changes to the index tree. */
  async #apply(ix: LiveIndex, sorted: ReadonlyArray<SortEntry>): Promise<void> {
    if (sorted.length === 0) return;
    const { tree, created } = await ix.tree.mutate(sorted);
    this.#nodes.addPending(created);
    ix.tree = tree;
  }

  /** Every index as it should be recorded in the next checkpoint, with the root last stored. */
  snapshot(): Array<{ name: string; entry: IndexCheckpoint; stored: CID | undefined; current: CID }> {
    const out: Array<{ name: string; entry: IndexCheckpoint; stored: CID | undefined; current: CID }> = [];
    for (const [name, ix] of this.#dormant) out.push({ name, entry: ix, stored: ix.root, current: ix.root });
    for (const [name, ix] of this.#live) {
      // Entries of old-tag indexes stay as old checkpoints wrote them (no tag).
      const tag = ix.tree.tag.startsWith(LEGACY_TAG_PREFIX) ? {} : { tag: ix.tree.tag };
      out.push({ name, entry: { src: ix.def.src, seq: ix.seq, root: ix.tree.root, ...tag }, stored: ix.stored, current: ix.tree.root });
    }
    return out;
  }

  /** Marks every live index's current root as stored (after a checkpoint). */
  markStored(): void {
    for (const ix of this.#live.values()) ix.stored = ix.tree.root;
  }
}

/**
 * Memory a row's emitted key or value takes in a build's run, roughly (V8's
 * one-byte strings, 8-byte slots): what {@link RUN_SHARE} bounds. Walks the
 * value, so an emitted document counts at its size (its bytes, for a byte array).
 */
function rowBytes(value: JsonValue): number {
  if (typeof value === "string") return 16 + value.length;
  if (value === null || typeof value !== "object") return 8;
  if (value instanceof Uint8Array) return 64 + value.byteLength;
  if (Array.isArray(value)) {
    let bytes = 16 + 8 * value.length;
    for (const item of value) bytes += rowBytes(item);
    return bytes;
  }
  let bytes = 24;
  for (const key in value) bytes += 8 + key.length + rowBytes(value[key]!);
  return bytes;
}

// Names can be whole function sources; every node carries its tag, so hash it.
function nameHash(name: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(name)).subarray(0, 12));
}

/** The tag of an index built now with `fanout`. */
function tagOf(name: string, fanout: number): string {
  return withFanout(`hearth/index/2/${nameHash(name)}`, fanout);
}

/** How the tags of indexes built before index trees had their own fan-out (32) begin; such an index keeps its tag. */
const LEGACY_TAG_PREFIX = "hearth/index/1/";

/** The tag of an index built before index trees had their own fan-out. */
function legacyTagOf(name: string): string {
  return `${LEGACY_TAG_PREFIX}${nameHash(name)}`;
}

/**
 * The tag of the stored index `name`: the one its checkpoint entry gives
 * (absent in entries written before tags had a fan-out).
 * @throws HearthError `INTEGRITY` for a tag that is neither of the two this name can have
 */
function storedTag(name: string, entry: IndexCheckpoint): string {
  const tag = entry.tag ?? legacyTagOf(name);
  if (tag !== tagOf(name, SMALL_ENTRY_FANOUT) && tag !== tagOf(name, COSTLY_RECORD_FANOUT) && tag !== legacyTagOf(name)) {
    throw new HearthError("INTEGRITY", `the checkpoint gives index ${JSON.stringify(name)} the tree tag ${JSON.stringify(tag)}, which no Hearth index has; the store is damaged`);
  }
  return tag;
}
