/**
 * The ledger's in-memory view of its data: the converged state tree
 * (doc id → {@link Register}), the local tree (change feed and event
 * positions, see {@link ./keys}), the Merkle-clock heads, and overlays of
 * changes not yet folded into the trees.
 *
 * Why overlays: folding one change into a tree re-encodes and re-hashes
 * O(log n) nodes. Doing that per commit would dominate the cost of a small
 * `put`. Instead a commit lands in the overlays (O(1)), `get` reads through
 * them, and they are folded in one batch when something needs the trees
 * (range reads, `root()`, a checkpoint).
 *
 * Why the state overlay holds registers encoded: it holds up to a few tens
 * of thousands of documents until a checkpoint takes them, long enough for
 * the collector to move them to the old generation, where each was half a
 * kilobyte of objects (register, body, strings, arrays) to trace and then
 * free. As their dag-cbor bytes, packed into shared slabs, each is two small
 * objects; a checkpoint writes the bytes into tree leaves as they are (no
 * second encoding), and a read decodes a fresh copy (which it may hand out
 * without cloning). Measured: 400,000 documents at sequential ids promoted
 * 227 MB to the old generation, now 150; closing after 100,000 at random
 * ids (four pairs in turns) 379–487 ms, now 262–368, the load's peak RSS
 * 278–302 MB, now 263–276. Holding the registers as objects had been the
 * larger part of what the collector promoted (~560 bytes a document).
 *
 * Why runs too: when folds turn out scattered (random keys into a large
 * tree: each fold rewrites most leaves), checkpoints spill the overlays
 * into runs instead, small trees of their own that reads go through, and
 * merge them into the trees once there are {@link MAX_RUNS} of them
 * (`layered-tree.ts`). Measured, a million documents with random ids on
 * the file store: load 262 → 134 s, close 12.0 → 0.6 s, peak RSS 1,208 →
 * 1,023 MB; with key filters (`key-filter.ts`), merges that stream and
 * checkpoint their progress, and uncompressed run nodes, 71–93 s (this
 * machine's spread between runs) and ~740 MB; with merges no longer
 * counted in judging folds scattered and writes made during a merge
 * spilled meanwhile ({@link LedgerState.spillsDuringMerge}), 40–45 s and
 * ~485 MB. Sequential keys never spill: their folds stay cheap.
 *
 * Not thread-safe on its own: the ledger serializes every mutation.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { fanoutBitsOf, ProllyTree, withFanout, type EntryBatch, type TreeNode } from "../crdt/prolly.js";
import { TreeWriter } from "../crdt/prolly-build.js";
import type { Block } from "../codec/block.js";
import { isPromiseLike } from "../crdt/prolly-node.js";
import { applyOp, readRegisterDoc, type Register } from "../crdt/register.js";
import type { EventBlock } from "../crdt/event.js";
import { readEventBytes } from "../crdt/event.js";
import { HearthError } from "../errors.js";
import { decodeDagCbor, EncodedCbor, encodeDagCbor } from "../codec/cbor.js";
import { SlabCopier } from "../codec/slab.js";
import type { ByteStore } from "../store/types.js";
import type { NodeCache } from "./node-cache.js";
import { META_KEY, TAIL_KEY, eventKey, keyFilterKey, local } from "./keys.js";
import { decodeTail, type Tail } from "./tail.js";
import { cidText } from "../codec/cid-text.js";
import { buildRun, lookupThrough, mergeRunsInto, openRun, RunMerge, runRecord, type Run, type RunRecord } from "./layered-tree.js";
import { KeyFilter, type KeyFilterStageRecord } from "./key-filter.js";

/**
 * The state tree's tag, part of every node (so nodes of different trees
 * never coincide): ~64 documents a leaf, ~10 KB at the benches' ~150-byte
 * registers.
 *
 * Why 64 and not 32 (the first layout, {@link LEGACY_STATE_TAG}): most of
 * what a leaf costs is per leaf (one store record, a seal, a deflate's
 * setup, a hash, a cache slot), and 32 made small leaves of ~5 KB.
 * Measured, Hearth alone at 1M documents on the file store (32 → 64, one
 * run each, same hour): load 50,227 → 68,004 docs/s, its peak RSS 327 →
 * 287 MB, allDocs 4.5 → 3.5 s, close 72 → 38 ms, warm gets 75,500 →
 * 89,337/s, 77.8 → 70.8 MB on disk, the random-id load's peak 510 → 448
 * MB; in headless Chromium at 50,000 documents, reload + read all 456–496
 * → 334–342 ms and 4.34 → 3.75 MB stored. What it costs: a cold get reads
 * and inflates a leaf twice as big (a fresh process's 100,000 random gets
 * 19,622 → 14,788/s, still four times PouchDB's). 128 went further on
 * most rows but not on random reads: a leaf of ~36 KB (a random key lands
 * in the bigger leaves more often) let the default cache hold only ~1,300
 * of them, and warm gets of 2,000 random documents fell to ~10,000/s.
 *
 * A ledger made with the first layout is rebuilt with this one when it is
 * opened ({@link LedgerState.rebuildStateTree}): the state's root must be
 * the same on every replica that has seen the same writes, whatever
 * release made its ledger.
 */
export const STATE_TAG = withFanout("hearth/state/2", 64);
/** The state tree's tag in ledgers made before {@link STATE_TAG}: rebuilt under it when opened. */
export const LEGACY_STATE_TAG = "hearth/state/1";
/**
 * Entries a node of the local and index trees holds (their entries are
 * ~30 bytes): {@link SMALL_ENTRY_FANOUT}, or {@link COSTLY_RECORD_FANOUT}
 * in a store whose records are costly. See {@link LOCAL_TAG} and
 * {@link LARGE_LOCAL_TAG} for why and what each measured.
 */
export const SMALL_ENTRY_FANOUT = 128;
/** See {@link SMALL_ENTRY_FANOUT}. */
export const COSTLY_RECORD_FANOUT = 512;

/**
 * The fan-out a new local or index tree gets in `store`: bigger nodes where
 * records are costly ({@link largeNodes}).
 */
export function smallEntryFanout(store: Pick<ByteStore, "supports">): number {
  return largeNodes(store) ? COSTLY_RECORD_FANOUT : SMALL_ENTRY_FANOUT;
}

/**
 * The local tree's tag for ledgers made since fan-outs differ: ~128
 * entries a node. Its entries (a change's position → a document id, an
 * event's number → its CID) are ~30 bytes, so at the state tree's 32 a
 * node was ~1 KB and most of a node's cost was per node (sealing, hashing,
 * one store record): a million-document load wrote ~4× the nodes it needs.
 * Measured at 1M documents (Node, file store), with index trees at 128
 * too: load 18.5 → 14.4 s, loading peak RSS 394 → 339 MB, close 400 →
 * 190 ms, the `done` index build 16.2 → 13.0 s, 117 → 87 MB on disk.
 */
export const LOCAL_TAG = withFanout("hearth/local/2", SMALL_ENTRY_FANOUT);
/**
 * The local tree's tag in a store whose records are costly
 * ({@link largeNodes}): ~512 entries a node. At 128 a local node is
 * ~600–750 bytes sealed, and IndexedDB in Chromium spends ~260–430 bytes on
 * each record besides (see `store/indexeddb.ts`): nearly half again what
 * the node weighs. Measured in headless Chromium (`npm run bench:browser`,
 * local and index trees at 512, two alternating pairs): the origin's bytes
 * at 50,000 documents 3.1 → 2.8 MB (Dexie's: 2.9), at 100,000 6.6 → 6.4
 * MB; the first `done` query 640–646 → 352–439 ms at 50,000 and 1,625–
 * 1,650 → 1,324–1,385 ms at 100,000. Not on files, where a record costs
 * ~20 bytes: one scale-bench run at 1M with the same change built the
 * index faster (11.7 → 9.3 s) and stored less (71 → 66 MB), but peaked
 * higher while loading (249 → 297 MB; random ids 431 → 505 MB) and read
 * warm documents slower (77,000 → 46,000/s), and a cold get in a local
 * node would read four times the bytes.
 */
export const LARGE_LOCAL_TAG = withFanout("hearth/local/2", COSTLY_RECORD_FANOUT);
/**
 * True where a store's records cost enough that a ledger made on it gives
 * its local and index trees bigger nodes ({@link LARGE_LOCAL_TAG}): a
 * record overhead of {@link COSTLY_RECORD_BYTES} or more. The choice is
 * made when a tree is made and kept in its tag: a ledger moved to another
 * kind of store keeps its nodes' sizes. (The state tree's fan-out is the
 * same everywhere: its root is compared across replicas.)
 */
export function largeNodes(store: Pick<ByteStore, "supports">): boolean {
  return (store.supports.recordOverhead ?? 0) >= COSTLY_RECORD_BYTES;
}

/** See {@link largeNodes}. */
const COSTLY_RECORD_BYTES = 128;

/** The local tree's tag in ledgers made before: kept by them, as a tree's fan-out is fixed once made. */
export const LEGACY_LOCAL_TAG = "hearth/local/1";

/** A secondary index as recorded in a checkpoint. */
export interface IndexCheckpoint {
  /** Source of the map function (or `field:<name>`), to detect a changed function. */
  readonly src: string;
  /** Local seq the index has caught up to. */
  readonly seq: number;
  readonly root: CID;
  /** The tree's tag; absent in checkpoints written before index tags had a fan-out (see `indexes.ts`). */
  readonly tag?: string;
}

/** Runs in front of the trees, as a checkpoint records them (see `layered-tree.ts`). */
export interface RunsCheckpoint {
  /** The number the next run gets. */
  readonly next: number;
  /** The state tree's runs, newest first. */
  readonly state: readonly RunRecord[];
  /** The local tree's runs, newest first. */
  readonly local: readonly RunRecord[];
  /**
   * The stages of each tree's key filter (`key-filter.ts`), for trees
   * that have one; absent in checkpoints written before key filters.
   */
  readonly keys?: { readonly state?: readonly KeyFilterStageRecord[]; readonly local?: readonly KeyFilterStageRecord[] };
  /**
   * Which trees' folds were judged scattered (so their checkpoints spill);
   * absent in checkpoints written before it was recorded, which infer it
   * from runs and key filters being there.
   */
  readonly scattered?: { readonly state: boolean; readonly local: boolean };
}

/** What a checkpoint writes of the runs and key filters, and what to call once it is durable. */
export interface LayersCheckpoint {
  /** How the checkpoint records them; undefined when there are none. */
  readonly runs: RunsCheckpoint | undefined;
  /** Key filter stage records to write. */
  readonly put: Array<readonly [string, Uint8Array]>;
  /** Call once the checkpoint is durable. */
  readonly written: () => void;
}

/** The `meta` record: everything needed to reopen without replaying all history. */
export interface Checkpoint {
  /**
   * 3 when {@link runs} records key filters or the scattered judgement, 2
   * when it holds only runs, else 1: a release that does not know what is
   * recorded refuses the ledger (`INTEGRITY`) instead of reading its trees
   * without the changes its runs hold, or writing checkpoints that forget
   * its key filters' records.
   */
  readonly v: 1 | 2 | 3;
  /** Events applied (the last one is `ev/<events>`). */
  readonly events: number;
  /**
   * Events packed into segments (`sg/<n>`), a multiple of the segment size;
   * absent (0) in checkpoints written before segments existed.
   */
  readonly packed?: number;
  readonly seq: number;
  readonly lamport: number;
  readonly heads: CID[];
  readonly state: CID;
  /** The state tree's tag; absent in checkpoints written before {@link STATE_TAG} ({@link LEGACY_STATE_TAG}). */
  readonly stateTag?: string;
  readonly local: CID;
  /** The local tree's tag; absent in checkpoints written before it had a fan-out ({@link LEGACY_LOCAL_TAG}). */
  readonly localTag?: string;
  readonly ix: Record<string, IndexCheckpoint>;
  /** Runs in front of the trees; absent when there are none. */
  readonly runs?: RunsCheckpoint;
}

/**
 * Runs kept in front of a tree before they are merged into it. A merge of
 * scattered changes rewrites about every leaf, so the more changes one
 * merge takes, the fewer times each leaf is rewritten; each run costs a
 * Bloom filter probe per lookup (~7 hashes) and, while it is recent, room
 * in the node cache.
 */
const MAX_RUNS = 16;
/**
 * Folds between two checkpoints that made more than this many times the
 * nodes a run of the same changes would make (one per fan-out's worth)
 * count as scattered (random keys): the next checkpoints spill into runs
 * instead. Sequential keys make about as many nodes as a run would; random
 * ones into a large tree make one per change or so (measured at 1M
 * documents: ~27× for the state tree, ~7× for the local tree).
 */
const SCATTERED_NODES_FACTOR = 3;

/** Overlay entries from which a close spills a tree not judged scattered ({@link LedgerState.checkpointPlan}). */
const CLOSE_SPILL_MIN = 1_000;

/** Leaves a smaller overlay may fall into and still be folded at a close (else it is spilled): ~20 ms of fold at most. */
const CLOSE_FOLD_LEAVES = 16;

/**
 * Documents a state tree rebuild ({@link LedgerState.rebuildStateTree}) reads at a time, and writes
 * before it stores the nodes made. Slices of 20,000 peaked at 287–317 MB rebuilding 1M documents,
 * these at 256–270.
 */
const REBUILD_SLICE_ENTRIES = 4_096;

/** Entries a full merge of runs (for a range read) hands to each tree mutation: bounds the memory it takes. */
const MERGE_CHUNK = 20_000;

/**
 * A document's register as a range read yields it: `owned` when it was
 * decoded for this read alone (the caller may hand out its document
 * without a copy), not when it is the overlay's or a decoded leaf's, which
 * other reads share.
 */
export type StateEntry = readonly [id: string, register: Register, owned?: boolean];

/**
 * A document as {@link LedgerState.docBatches} reads it straight from a
 * tree leaf: `{ _id, ...body }`, new and the caller's, or `null` for a
 * deletion.
 */
export type DocEntry = readonly [id: string, register: undefined, owned: true, doc: Record<string, unknown> | null];

/** What a checkpoint does with the changes not yet in the trees. */
export type CheckpointPlan = "fold" | "spill";

/** See the module docs. */
export class LedgerState {
  stateTree: ProllyTree;
  localTree: ProllyTree;
  /** Local seq of the last applied event. */
  seq: number;
  /** Greatest lamport seen. */
  lamport: number;
  /** Number of events applied; the next one is stored as `ev/<events + 1>`. */
  events: number;
  /** The last checkpoint, as stored (undefined before the first). */
  checkpoint: Checkpoint | undefined;
  /** Whether the store holds a tail record (`tail.ts`), which the next checkpoint deletes. */
  tailStored = false;
  /** The position the stored tail record reaches, while it is the one that follows {@link checkpoint}. */
  tailSeq: number | undefined;
  /** Usually one; an array, since a map churned its table on every commit (one head replaced by the next). */
  #heads: CID[] = [];
  /** Registers of documents changed since the trees last took them, encoded (see the module docs). */
  readonly #overlay = new Map<string, EncodedCbor>();
  /** The sorted overlays a sliced fold is working through. */
  #foldPlan: { state: Array<readonly [string, unknown]>; local: Array<readonly [string, unknown]>; at: number } | undefined;
  /** The overlay's entries sorted by id, built on demand and dropped when the overlay changes. */
  #sortedOverlay: Array<readonly [string, EncodedCbor]> | undefined;
  readonly #localOverlay = new Map<string, unknown>();
  /** Runs in front of the state tree, newest first (see `layered-tree.ts`). */
  stateRuns: Run[] = [];
  /** Runs in front of the local tree, newest first. */
  localRuns: Run[] = [];
  /** The number the next run (or key filter stage record) gets. */
  #nextRun = 0;
  /**
   * Filters of the keys each tree holds, kept while its changes go into
   * runs (`key-filter.ts`), and of the keys of the runs made since
   * (`KeyFilter.runsFrom`): lookups of keys a tree does not hold (documents
   * written for the first time) then skip the tree and those runs.
   */
  #keyFilters: { state: KeyFilter | undefined; local: KeyFilter | undefined } = { state: undefined, local: undefined };
  /**
   * Key filters being made from their trees' keys, a slice at a time
   * ({@link buildKeyFiltersSome}); used once complete. Keys the tree takes
   * meanwhile are added as they come, so a key the tree holds at the end
   * was either added then or was there when the scan passed its place.
   */
  #filterBuilds: { state: FilterBuild | undefined; local: FilterBuild | undefined } = { state: undefined, local: undefined };
  /** Whether the folds of each tree between the last two checkpoints were scattered (see {@link SCATTERED_NODES_FACTOR}). */
  #scattered = { state: false, local: false };
  /**
   * The trees moved since the last checkpoint by something other than the
   * merge plan's slices: they can no longer be put back to the checkpoint's
   * roots ({@link abandonMerge}).
   */
  #treesMoved = false;
  /** True while a merge plan's slice mutates the trees. */
  #inMergeSlice = false;
  /** Changes folded and nodes made since the last checkpoint, per tree. */
  readonly #foldCost = { state: { changes: 0, created: 0 }, local: { changes: 0, created: 0 } };
  /**
   * Runs a sliced fold is merging into the trees (they are older than the
   * overlays, so merged first), and where it stands in each tree's runs
   * (undefined once all of them are in).
   */
  #runPlan:
    | {
        readonly stateRuns: readonly Run[];
        readonly localRuns: readonly Run[];
        state: RunMerge | undefined;
        local: RunMerge | undefined;
        /** {@link seq} when the merge began. */
        readonly since: number;
      }
    | undefined;
  readonly nodes: NodeCache;

  private constructor(
    nodes: NodeCache, stateTree: ProllyTree, localTree: ProllyTree, checkpoint: Checkpoint | undefined,
    keyFilters: { state: KeyFilter | undefined; local: KeyFilter | undefined } = { state: undefined, local: undefined },
  ) {
    this.nodes = nodes;
    this.stateTree = stateTree;
    this.localTree = localTree;
    this.checkpoint = checkpoint;
    this.seq = checkpoint?.seq ?? 0;
    this.lamport = checkpoint?.lamport ?? 0;
    this.events = checkpoint?.events ?? 0;
    this.#heads = [...(checkpoint?.heads ?? [])];
    if (checkpoint?.runs) {
      this.#nextRun = checkpoint.runs.next;
      this.stateRuns = checkpoint.runs.state.map((r) => openRun(stateTree.tag, r, nodes));
      this.localRuns = checkpoint.runs.local.map((r) => openRun(localTree.tag, r, nodes, local.lookedUp));
      this.#keyFilters = keyFilters;
      // Recorded, or (in checkpoints from before it was) inferred: runs were spilled because folds were scattered.
      this.#scattered = checkpoint.runs.scattered
        ? { ...checkpoint.runs.scattered }
        : { state: this.stateRuns.length > 0 || keyFilters.state !== undefined, local: this.localRuns.length > 0 || keyFilters.local !== undefined };
    }
  }

  /**
   * Loads the last checkpoint from `store` and replays the events logged
   * after it, so every acknowledged commit is back. `replayed` sees each
   * replayed event with its number.
   */
  static async load(
    store: ByteStore, nodes: NodeCache, replayed?: (n: number, event: EventBlock) => void, inert: ReadonlySet<string> = new Set(),
  ): Promise<LedgerState> {
    const meta = await store.get(META_KEY);
    let state: LedgerState;
    if (meta === undefined) {
      const s = await ProllyTree.empty(STATE_TAG, nodes);
      const l = await ProllyTree.empty(largeNodes(store) ? LARGE_LOCAL_TAG : LOCAL_TAG, nodes);
      nodes.addPending([...s.created, ...l.created]);
      state = new LedgerState(nodes, s.tree, l.tree, undefined);
    } else {
      const checkpoint = decodeCheckpoint(meta);
      const keys = checkpoint.runs?.keys;
      state = new LedgerState(
        nodes,
        ProllyTree.open(checkpoint.stateTag ?? LEGACY_STATE_TAG, checkpoint.state, nodes),
        ProllyTree.open(checkpoint.localTag ?? LEGACY_LOCAL_TAG, checkpoint.local, nodes),
        checkpoint,
        {
          // The runs the checkpoint recorded are older than these filters (see `KeyFilter.runsFrom`).
          state: keys?.state && (await openKeyFilter(store, keys.state, () => true, checkpoint.runs!.next)),
          local: keys?.local && (await openKeyFilter(store, keys.local, local.lookedUp, checkpoint.runs!.next)),
        },
      );
    }
    // A close after a few changes left their overlays in a tail record: taken as is, if it follows this checkpoint.
    const tailBytes = await store.get(TAIL_KEY);
    if (tailBytes !== undefined) {
      state.tailStored = true;
      const tail = decodeTail(tailBytes);
      if (tail !== undefined && state.checkpoint !== undefined && tail.after.events === state.checkpoint.events && tail.after.seq === state.checkpoint.seq) state.#takeTail(tail);
    }
    // Events after the checkpoint (and the tail) are numbered consecutively: replay until the first gap.
    for (;;) {
      const bytes = await store.get(eventKey(state.events + 1));
      if (bytes === undefined) break;
      const event = await readEventBytes(bytes);
      await state.apply(event, inert.has(event.cid.toString()));
      replayed?.(state.events, event);
    }
    return state;
  }

  /** Current heads, sorted by CID string for a stable order. */
  heads(): CID[] {
    const heads = [...this.#heads];
    // Usually one head; Array.prototype.sort allocates even for that.
    return heads.length < 2 ? heads : heads.sort((a, b) => (cidText(a) < cidText(b) ? -1 : 1));
  }

  /** The register of `id`, if the document was ever written. */
  async register(id: string): Promise<Register | undefined> {
    return this.registerNow(id);
  }

  /** {@link register} without a promise when the answer is in memory (test with `isPromiseLike`); commits look up every document they write. */
  registerNow(id: string): Register | undefined | Promise<Register | undefined> {
    const held = this.#overlay.get(id);
    if (held !== undefined) return heldRegister(held);
    return (
      ((this.stateRuns.length === 0 && this.#keyFilters.state === undefined
        ? this.stateTree.lookup(id)
        : lookupThrough(this.stateRuns, this.stateTree, id, this.#keyFilters.state)) as Register | undefined | Promise<Register | undefined>)
    );
  }

  /** A value of the local tree, read through the overlay. */
  async localGet(key: string): Promise<unknown> {
    return this.#localNow(key);
  }

  /** {@link localGet} without a promise when the answer is in memory: `apply` makes one per op. */
  #localNow(key: string): unknown {
    const value = this.#localOverlay.get(key);
    if (value !== undefined) return value;
    // An overlay entry of `undefined` is a deletion not yet folded.
    if (this.#localOverlay.has(key)) return undefined;
    return this.localRuns.length === 0 && this.#keyFilters.local === undefined
      ? this.localTree.lookup(key)
      : lookupThrough(this.localRuns, this.localTree, key, this.#keyFilters.local);
  }

  /** True if the event was applied here. */
  async hasEvent(cid: CID): Promise<boolean> {
    return (await this.localGet(local.event(cid))) !== undefined;
  }

  /** Where an event is stored and positioned here: `[event number, last change position]`, if applied. */
  async eventEntry(cid: CID): Promise<[number, number] | undefined> {
    return (await this.localGet(local.event(cid))) as [number, number] | undefined;
  }


  /**
   * Applies an event at the next positions (the caller has made it durable
   * first, as `ev/<events + 1>`). Its parents must have been
   * applied (causal order). Returns the registers it changed, by document id
   * (turned into documents only if someone is listening).
   *
   * An `inert` event joins the history (its descendants can apply, it
   * counts for heads and lamport) but its ops change nothing: a write the
   * sync point's membership refuses (its author was removed before it, as
   * the rules of `trust/log.ts` decide) that others may have built on.
   *
   * `registers`: the current registers of the documents the event writes,
   * if the caller has just read them under the same lock (a local commit
   * reads each to build its op), so they are not looked up (or decoded
   * from the overlay) twice: each document at most once across the events
   * one map is passed with, as a commit's events write it. One an earlier
   * op of this event wrote is read from the overlay.
   */
  async apply(event: EventBlock, inert = false, registers?: ReadonlyMap<string, Register | undefined>): Promise<Array<[string, Register]>> {
    const { cid, value } = event;
    const changed: Array<[string, Register]> = [];
    const written = registers && new Set<string>();
    let seq = this.seq;
    for (const op of inert ? [] : value.o) {
      seq++;
      const current = registers?.has(op.i) === true && !written!.has(op.i) ? registers.get(op.i) : this.registerNow(op.i);
      written?.add(op.i);
      const next = applyOp(isPromiseLike(current) ? await current : current, op, cid, value.l);
      this.#overlay.set(op.i, registerHeld(next));
      this.#sortedOverlay = undefined;
      const found = this.#localNow(local.lastChange(op.i));
      const previous = (isPromiseLike(found) ? await found : found) as number | undefined;
      if (previous !== undefined) this.#localOverlay.set(local.change(previous), undefined);
      this.#localOverlay.set(local.change(seq), op.i);
      this.#localOverlay.set(local.lastChange(op.i), seq);
      changed.push([op.i, next]);
    }
    const lastSeq = this.seq + Math.max(1, inert ? 0 : value.o.length);
    this.events++;
    this.#localOverlay.set(local.event(cid), [this.events, lastSeq]);
    if (value.p.length > 0) this.#heads = this.#heads.filter((head) => !value.p.some((parent) => parent.equals(head)));
    if (!this.#heads.some((head) => head.equals(cid))) this.#heads.push(cid);
    this.lamport = Math.max(this.lamport, value.l);
    this.seq = lastSeq;
    return changed;
  }

  /**
   * Replaces the registers of some documents outright (`undefined`: the
   * document goes), recording each as a change. How a whiteout takes back
   * the writes of events made inert after they were applied: the caller
   * recomputes those documents' registers from the events that still count.
   */
  async rewrite(changes: ReadonlyArray<readonly [string, Register | undefined]>): Promise<void> {
    if (changes.length === 0) return;
    await this.foldState(); // the overlay cannot hold deletions: write the tree directly
    await this.#mutateState([...changes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let seq = this.seq;
    for (const [id] of changes) {
      seq++;
      const found = this.#localNow(local.lastChange(id));
      const previous = (isPromiseLike(found) ? await found : found) as number | undefined;
      if (previous !== undefined) this.#localOverlay.set(local.change(previous), undefined);
      this.#localOverlay.set(local.change(seq), id);
      this.#localOverlay.set(local.lastChange(id), seq);
    }
    this.seq = seq;
  }

  /** True when there are changes not yet folded into the trees. */
  get dirty(): boolean {
    return this.#overlay.size > 0 || this.#localOverlay.size > 0;
  }

  /**
   * What the next checkpoint should do: spill the overlays into new runs
   * (the folds were scattered, and there are fewer than {@link MAX_RUNS}
   * runs) or fold everything into the trees (merging the runs).
   *
   * Closing spills (even past the limit, and large overlays of trees not
   * judged scattered too, when their fold would be scattered: see
   * {@link spill}): a run is built from sorted keys, the cheapest way to
   * make changes durable in the trees, and the merge is left to the next
   * session's background work. Folding 10,000 random-id changes into a
   * tree of 10,000 documents at close took ~320 ms, as a run ~30 ms.
   */
  checkpointPlan(closing = false): CheckpointPlan {
    if (closing) return "spill";
    if (this.foldsInOrder) return "fold";
    return Math.max(this.stateRuns.length, this.localRuns.length) < MAX_RUNS ? "spill" : "fold";
  }

  /**
   * Changes applied since the merge of runs under way began (0 without
   * one): how far a merge is behind the writes made meanwhile, whatever
   * checkpoints spilled them.
   */
  get changesSinceMergeBegan(): number {
    return this.#runPlan === undefined ? 0 : this.seq - this.#runPlan.since;
  }

  /**
   * True while a merge of runs is under way and a checkpoint may spill the
   * overlays meanwhile ({@link spill} with both trees), rather than hold
   * them until the merge ends: folds are scattered, and the trees have
   * fewer than twice {@link MAX_RUNS} runs, less one: room for a close to
   * spill too (past that, a close also merges two runs into one). Such
   * a checkpoint records the half-merged trees with every run, the ones
   * being merged too (they still shadow what the trees took of them), and
   * the spilled overlays as the newest runs, so it holds exactly what the
   * ledger holds.
   *
   * Why: a merge of 16 runs at a million documents takes ~10 s, and writes
   * go on. Held, their overlays grew to ~80,000 documents (about four
   * times as many local entries), which the checkpoint after the merge
   * then spilled in one piece: ~600 ms under the lock, and the loading
   * peak of RSS.
   */
  get spillsDuringMerge(): boolean {
    return (
      this.#runPlan !== undefined &&
      !this.foldsInOrder &&
      Math.max(this.stateRuns.length, this.localRuns.length) < 2 * MAX_RUNS - 1
    );
  }

  /**
   * Writes each overlay out as a new run (a tree of its own, `layered-tree.ts`)
   * instead of folding it into its tree; new nodes become pending. By
   * default only the overlays of trees whose folds were scattered are
   * spilled, and the other is folded (merging its runs); `closing`, also
   * an overlay of {@link CLOSE_SPILL_MIN} entries or more whose fold would
   * be scattered (a session too short to be judged). A tree with twice
   * {@link MAX_RUNS} runs keeps that many at a close: short sessions that
   * never stay open long enough for a merge (see {@link needsMerge}) must
   * not pile up runs without end. Its overlay becomes a run, and the
   * smallest pair of neighbouring runs one run ({@link #mergeSmallestPair});
   * it is folded (merging every run) only if a merge under way holds the
   * newest run.
   */
  async spill(which?: { readonly state: boolean; readonly local: boolean }, closing = false): Promise<void> {
    // Each overlay is sorted once: to judge it (at a close), then for its run or its fold.
    const sortedState = this.#overlay.size > 0 ? (this.#sortedOverlay ??= sortedChanges(this.#overlay)) : [];
    const sortedLocal = this.#localOverlay.size > 0 ? sortedChanges(this.#localOverlay) : [];
    const trees = which ?? { state: await this.#spills("state", closing, sortedState), local: await this.#spills("local", closing, sortedLocal) };
    if (sortedState.length > 0) {
      if (trees.state) {
        await this.#addRun(this.stateRuns, this.stateTree.tag, sortedState, closing);
        this.#overlay.clear();
        this.#sortedOverlay = undefined;
      } else {
        await this.foldState(sortedState);
      }
    }
    if (sortedLocal.length > 0) {
      if (trees.local) {
        await this.#addRun(this.localRuns, this.localTree.tag, sortedLocal, closing);
        this.#localOverlay.clear();
      } else await this.foldLocal(sortedLocal);
    }
  }

  /**
   * Puts a run of `sorted` in front of `runs` (newest first); past twice
   * {@link MAX_RUNS}, merges their smallest pair. `closing`: as for
   * {@link #runOf}.
   */
  async #addRun(runs: Run[], tag: string, sorted: ReadonlyArray<readonly [string, unknown]>, closing = false): Promise<void> {
    runs.unshift(await this.#runOf(tag, sorted, closing));
    if (runs.length > 2 * MAX_RUNS) await this.#mergeSmallestPair(runs, tag, closing);
  }

  /**
   * Two neighbouring runs, together the smallest such pair that no merge
   * under way reads, as one run in their place (the newer one's entries
   * winning: nothing reads differently). What keeps a close from adding a
   * run past twice {@link MAX_RUNS} (see {@link spill}); its work is in
   * the size of the pair, like a binary counter's carries when every
   * session spills about as much.
   */
  async #mergeSmallestPair(runs: Run[], tag: string, closing: boolean): Promise<void> {
    const at = this.#smallestPair(runs);
    if (at < 0) return;
    const [newer, older] = [runs[at]!, runs[at + 1]!];
    const entries = await (await RunMerge.of([newer, older])).next(newer.entries + older.entries + 1);
    runs.splice(at, 2, await this.#runOf(tag, entries, closing));
  }

  /** True if a merge under way reads `run`. */
  #merging(run: Run): boolean {
    const plan = this.#runPlan;
    return plan !== undefined && (plan.stateRuns.includes(run) || plan.localRuns.includes(run));
  }

  /** Where {@link #mergeSmallestPair} would merge `runs` (the newer run's index), or -1 if every pair is being merged. */
  #smallestPair(runs: readonly Run[]): number {
    let best = -1;
    for (let i = 0; i + 1 < runs.length; i++) {
      if (this.#merging(runs[i]!) || this.#merging(runs[i + 1]!)) continue;
      if (best < 0 || runs[i]!.entries + runs[i + 1]!.entries < runs[best]!.entries + runs[best + 1]!.entries) best = i;
    }
    return best;
  }

  /**
   * Whether {@link spill} spills `tree`'s overlay (see there). At a close,
   * an overlay of a tree neither judged scattered nor with runs is looked
   * at first: if its keys fall into few of the tree's leaves (ids in order,
   * mostly appends), it is folded, which is cheap then and leaves the next
   * session's first range read no run to merge (a reload of 10k documents
   * in Chromium read them all in ~440 ms after a spill, ~265 ms after a
   * fold). Only internal nodes are read to tell.
   */
  async #spills(tree: "state" | "local", closing: boolean, sorted: ReadonlyArray<readonly [string, unknown]>): Promise<boolean> {
    const scattered = this.#scattered[tree];
    if (!closing) return scattered;
    const treeRuns = tree === "state" ? this.stateRuns : this.localRuns;
    const runs = treeRuns.length;
    if (sorted.length === 0) return false;
    // At twice MAX_RUNS a close still spills, then merges a pair of runs (the new one and the
    // newest at worst, unless a merge under way reads the newest): a fold would merge every run
    // at once (24 s at a million documents), at the close of each session too short to finish
    // a merge.
    if (runs >= 2 * MAX_RUNS) return !this.#merging(treeRuns[0]!);
    if (scattered) return true;
    const small = sorted.length < CLOSE_SPILL_MIN;
    // (With runs already, folding would merge them first: spill, as before.)
    if (!small && runs > 0) return true;
    const target = tree === "state" ? this.stateTree : this.localTree;
    const keys = sorted.map(([key]) => key);
    // A run writes these entries once; a fold also rewrites every entry of each leaf they fall
    // into (about a fan-out's worth each): it costs more once those outnumber them. (Measured:
    // 26,000 random ids' local entries, 52,026, fell into 547 leaves of 128; folded at close,
    // 428-545 ms; spilled, ~327.) A small overlay is folded unless its keys fall into more than
    // CLOSE_FOLD_LEAVES leaves: 100 documents edited at random in a million-document ledger
    // (the close after tails added up past CLOSE_TAIL_MAX in `ledger.ts`) folded in ~250 ms.
    const limit = small ? CLOSE_FOLD_LEAVES : Math.max(1, sorted.length >> fanoutBitsOf(target.tag));
    return (await target.leavesTouched(keys, limit)) > limit;
  }

  /**
   * True while neither tree's folds are judged scattered ({@link judgeFolds}):
   * checkpoints fold the overlays into the trees in order, making no runs.
   */
  get foldsInOrder(): boolean {
    return !this.#scattered.state && !this.#scattered.local;
  }

  /**
   * True when runs wait for a merge that a session with few writes would
   * never start: a tree with {@link MAX_RUNS} runs or more, or runs of a
   * tree not judged scattered (a close spilled them). The ledger then
   * starts a checkpoint (which merges them, in slices) without waiting for
   * a checkpoint interval's worth of changes.
   */
  get needsMerge(): boolean {
    const waiting = (scattered: boolean, runs: number): boolean => runs >= MAX_RUNS || (!scattered && runs > 0);
    return waiting(this.#scattered.state, this.stateRuns.length) || waiting(this.#scattered.local, this.localRuns.length);
  }

  /**
   * The next run of the tree tagged `tag`, built from `sorted` (entries in
   * key order: an overlay's, or two runs' merged); its nodes become
   * pending. `closing`: made by the checkpoint of a close, after which
   * nothing looks a key up; its keys stay out of the tree's key filter,
   * which is told so (`KeyFilter.stopTakingRuns`) rather than fed 20,000–
   * 60,000 keys it would never be asked about.
   */
  async #runOf(tag: string, sorted: ReadonlyArray<readonly [string, unknown]>, closing = false): Promise<Run> {
    // The runs now differ from the last checkpoint's: a mid-merge checkpoint could not record them with its events.
    this.#treesMoved = true;
    // The local tree's point lookups never ask for its change feed: its runs' filters leave it out.
    const tree = tag === this.localTree.tag ? "local" : "state";
    const lookedUp = tree === "local" ? local.lookedUp : undefined;
    const { run, created } = await buildRun(tag, this.#nextRun++, sorted, this.nodes, lookedUp);
    this.nodes.addPending(created);
    // The tree's key filter holds its runs' keys too (`KeyFilter.runsFrom`), before any read can see the run.
    const filter = this.#keyFilters[tree] ?? this.#filterBuilds[tree]?.filter;
    if (closing) filter?.stopTakingRuns(run.n);
    else addKeys(filter, sorted, true);
    return run;
  }

  /** The runs and key filters as the next checkpoint records them, and the filter stages it writes. */
  layersCheckpoint(): LayersCheckpoint {
    const { state, local } = this.#keyFilters;
    const next = (): number => this.#nextRun++;
    const statePlan = state?.plan(next);
    const localPlan = local?.plan(next);
    const put = [...(statePlan?.put ?? []), ...(localPlan?.put ?? [])].map(([n, bytes]) => [keyFilterKey(n), bytes] as const);
    const written = (): void => {
      statePlan?.written();
      localPlan?.written();
    };
    const scattered = !this.foldsInOrder;
    if (this.stateRuns.length === 0 && this.localRuns.length === 0 && !statePlan && !localPlan && !scattered) return { runs: undefined, put, written };
    const runs: RunsCheckpoint = {
      next: this.#nextRun,
      state: this.stateRuns.map(runRecord),
      local: this.localRuns.map(runRecord),
      ...((statePlan || localPlan) && { keys: { ...(statePlan && { state: statePlan.stages }), ...(localPlan && { local: localPlan.stages }) } }),
      scattered: { ...this.#scattered },
    };
    return { runs, put, written };
  }

  /** Folds both overlays into their trees (new nodes become pending in the node cache). */
  async fold(): Promise<void> {
    await this.foldState();
    await this.foldLocal();
  }

  /**
   * Folds only the state overlay: enough for reads of documents and the
   * root. The local tree (change feed, event index) holds three entries per
   * change, some under random keys, so folding it is most of the work and
   * is left to the reads and checkpoints that need it. `sorted`: the
   * overlay's entries in key order, if the caller has them already.
   */
  async foldState(sorted?: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    await this.#mergeStateRuns();
    if (this.#overlay.size === 0) return;
    await this.#mutateState(sorted ?? sortedChanges(this.#overlay));
    this.#overlay.clear();
  }

  /** Merges every run of the state tree into it, now. */
  async #mergeStateRuns(): Promise<void> {
    if (this.stateRuns.length === 0) return;
    await mergeRunsInto(this.stateRuns, MERGE_CHUNK, (changes) => this.#mutateState(changes, "runs"));
    this.stateRuns = [];
  }

  /** Folds only the local overlay (and the local tree's runs); `sorted` as for {@link foldState}. */
  async foldLocal(sorted?: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    if (this.localRuns.length > 0) {
      await mergeRunsInto(this.localRuns, MERGE_CHUNK, (changes) => this.#mutateLocal(changes, "runs"));
      this.localRuns = [];
    }
    if (this.#localOverlay.size === 0) return;
    await this.#mutateLocal(sorted ?? sortedChanges(this.#localOverlay));
    this.#localOverlay.clear();
  }

  /**
   * Writes `changes` (sorted by key) into the state tree. `from` says where
   * they come from: only folds of the overlay count towards the judgement
   * of whether the workload's folds are scattered ({@link judgeFolds}). A
   * merge of runs is sorted and dense whatever the workload, so it always
   * looks cheap per change: counted, it turned a random-id load's judgement
   * to "in order" after every merge, and the next checkpoints folded the
   * overlay (~100,000 random ids written during the merge) into the tree
   * instead of spilling it: ~1.5 s of folds and 143 MB of new nodes held
   * at once, at 450,000 documents.
   */
  async #mutateState(changes: ReadonlyArray<readonly [string, unknown]>, from: "overlay" | "runs" = "overlay"): Promise<void> {
    const { tree, created } = await this.stateTree.mutate(changes);
    this.nodes.addPending(created);
    this.stateTree = tree;
    addKeys(this.#keyFilters.state ?? this.#filterBuilds.state?.filter, changes);
    this.#sortedOverlay = undefined;
    if (from === "overlay") this.#noteFold("state", changes.length, created.length);
    if (!this.#inMergeSlice) this.#treesMoved = true;
  }

  /** {@link #mutateState} for the local tree. */
  async #mutateLocal(changes: ReadonlyArray<readonly [string, unknown]>, from: "overlay" | "runs" = "overlay"): Promise<void> {
    const { tree, created } = await this.localTree.mutate(changes);
    this.nodes.addPending(created);
    this.localTree = tree;
    addKeys(this.#keyFilters.local ?? this.#filterBuilds.local?.filter, changes);
    if (from === "overlay") this.#noteFold("local", changes.length, created.length);
    if (!this.#inMergeSlice) this.#treesMoved = true;
  }

  /**
   * True while runs are being merged into the trees and nothing but the
   * merge's slices moved the trees since the last checkpoint. A checkpoint
   * of the trees as they are, with everything else (events, positions,
   * heads, runs) as the last one recorded it, then holds exactly what the
   * last one held: the runs being merged still shadow the half-merged
   * trees. Such a checkpoint lets a merge's new nodes leave memory before
   * the merge ends (a merge of scattered changes rewrites about every leaf
   * of a tree: ~200 MB of nodes at a million documents).
   */
  get midMerge(): boolean {
    return this.#runPlan !== undefined && this.checkpoint !== undefined && !this.#treesMoved;
  }

  /**
   * True when everything since `checkpoint` is in the overlays alone: the
   * trees are at its roots, the runs are its runs, no merge of runs is under
   * way, and at most `maxChanges` changes came after it. The checkpoint
   * and the overlays ({@link tailAfter}) then hold this state between them,
   * so a close may write the overlays alone in place of a checkpoint
   * (`tail.ts`).
   */
  onlyOverlaysSince(checkpoint: Checkpoint, maxChanges: number): boolean {
    const numbers = (runs: ReadonlyArray<{ readonly n: number }> | undefined): string => (runs ?? []).map((run) => run.n).join(",");
    return (
      this.seq - checkpoint.seq <= maxChanges &&
      this.#runPlan === undefined &&
      this.stateTree.root.equals(checkpoint.state) &&
      this.localTree.root.equals(checkpoint.local) &&
      this.stateTree.tag === (checkpoint.stateTag ?? LEGACY_STATE_TAG) &&
      this.localTree.tag === (checkpoint.localTag ?? LEGACY_LOCAL_TAG) &&
      numbers(this.stateRuns) === numbers(checkpoint.runs?.state) &&
      numbers(this.localRuns) === numbers(checkpoint.runs?.local)
    );
  }

  /**
   * The overlays, positions and heads as a tail record after `checkpoint`
   * holds them (`tail.ts`); {@link onlyOverlaysSince} that checkpoint must
   * be true.
   */
  tailAfter(checkpoint: Checkpoint): Tail {
    return {
      v: 1,
      after: { events: checkpoint.events, seq: checkpoint.seq },
      events: this.events,
      seq: this.seq,
      lamport: this.lamport,
      heads: this.heads(),
      state: [...this.#overlay].map(([id, held]) => [id, held.bytes]),
      local: [...this.#localOverlay].map(([key, value]) => [key, value === undefined ? null : value]),
    };
  }

  /** Puts a tail's overlays, positions and heads in place (at load, on the checkpoint it follows). */
  #takeTail(tail: Tail): void {
    for (const [id, register] of tail.state) this.#overlay.set(id, new EncodedCbor(heldBytes.copy(register)));
    for (const [key, value] of tail.local) this.#localOverlay.set(key, value === null ? undefined : value);
    this.events = tail.events;
    this.seq = tail.seq;
    this.lamport = tail.lamport;
    this.#heads = [...tail.heads];
    this.tailSeq = tail.seq;
  }

  /** Records `checkpoint` as the last one written (its trees are the stored ones). */
  markCheckpointed(checkpoint: Checkpoint): void {
    this.checkpoint = checkpoint;
    this.#treesMoved = false;
    // Its batch deleted the tail record (the ledger adds the deletion while `tailStored`).
    this.tailStored = false;
    this.tailSeq = undefined;
  }

  /**
   * Puts the trees back to the last checkpoint's when all they took since
   * are a merge plan's slices, and drops the plan: the runs being merged
   * still hold every one of those entries, so nothing reads differently,
   * and the slices' nodes need not be written. What `close` does, so it
   * never waits for (or writes) half of a merge. Returns whether it did.
   */
  abandonMerge(): boolean {
    const plan = this.#runPlan;
    const checkpoint = this.checkpoint;
    if (!plan || !checkpoint || this.#treesMoved) return false;
    if (!(stillThere(plan.stateRuns, this.stateRuns) && stillThere(plan.localRuns, this.localRuns))) return false;
    this.stateTree = ProllyTree.open(this.stateTree.tag, checkpoint.state, this.nodes);
    this.localTree = ProllyTree.open(this.localTree.tag, checkpoint.local, this.nodes);
    this.#sortedOverlay = undefined;
    this.#runPlan = undefined;
    return true;
  }

  /** Counts a fold's changes and the nodes it made (judged at the checkpoint, {@link judgeFolds}). */
  #noteFold(tree: "state" | "local", changes: number, created: number): void {
    this.#foldCost[tree].changes += changes;
    this.#foldCost[tree].created += created;
  }

  /**
   * Judges the folds since the last checkpoint (call at each checkpoint):
   * a tree whose folds made many more nodes than runs of the same changes
   * would is scattered, and its next checkpoints spill. Too few changes to
   * tell leave the judgement as it was.
   *
   * A scattered tree (or one with runs) gets a key filter
   * (`key-filter.ts`), made in slices from its keys
   * ({@link buildKeyFiltersSome}); checkpoints record it once made, so the
   * judgement outlives a close (a ledger opened and closed often would
   * otherwise fold on every close, never open long enough to be judged
   * again).
   */
  async judgeFolds(): Promise<void> {
    for (const [tree, fanoutBits] of [["state", fanoutBitsOf(this.stateTree.tag)], ["local", fanoutBitsOf(this.localTree.tag)]] as const) {
      const cost = this.#foldCost[tree];
      if (cost.changes >= 1_000) this.#scattered[tree] = cost.created > SCATTERED_NODES_FACTOR * Math.max(1, cost.changes >> fanoutBits);
      cost.changes = 0;
      cost.created = 0;
    }
    for (const tree of ["state", "local"] as const) {
      // (Runs of a tree not scattered, which a close spilled, are merged at the next checkpoint: no filter for them.)
      const wanted = this.#scattered[tree];
      if (!wanted) {
        // A tree back to folding in order needs no key filter (the next checkpoint deletes its records).
        this.#keyFilters[tree] = undefined;
        this.#filterBuilds[tree] = undefined;
      } else if (this.#keyFilters[tree] === undefined) {
        // It holds the keys of the runs made from now on; the runs there are now are asked one by one.
        this.#filterBuilds[tree] ??= tree === "state"
          ? { filter: KeyFilter.empty(undefined, this.#nextRun), next: undefined, end: undefined }
          : { filter: KeyFilter.empty(local.lookedUp, this.#nextRun), next: undefined, end: local.CHANGE_START };
      }
    }
  }

  /** True while a key filter is being made ({@link buildKeyFiltersSome} has work). */
  get buildingKeyFilters(): boolean {
    return this.#filterBuilds.state !== undefined || this.#filterBuilds.local !== undefined;
  }

  /**
   * Adds the next `max` keys of each tree whose key filter is being made
   * (from where the last slice stopped, in the tree as it is now), and puts
   * each filter to use once its scan reaches the end. Background work in
   * slices, like {@link foldSome}: a million-document tree's scan took
   * ~2.7 s, which a commit waited for when it was made at once.
   */
  async buildKeyFiltersSome(max: number): Promise<void> {
    for (const tree of ["state", "local"] as const) {
      const build = this.#filterBuilds[tree];
      if (build === undefined) continue;
      const source = tree === "state" ? this.stateTree : this.localTree;
      let taken = 0;
      let last: string | undefined;
      for await (const batch of source.batches({ ...(build.next !== undefined && { gt: build.next }), ...(build.end !== undefined && { lt: build.end }) })) {
        for (const key of batch.keys) build.filter.add(key);
        taken += batch.keys.length;
        last = batch.keys[batch.keys.length - 1];
        if (taken >= max) break;
      }
      if (taken >= max) {
        build.next = last;
      } else {
        this.#keyFilters[tree] = build.filter;
        this.#filterBuilds[tree] = undefined;
      }
    }
  }

  /**
   * Rebuilds the state tree under `tag`: every document as the trees, runs
   * and overlay hold it now, written into a new tree from the smallest id
   * up, its nodes handed to `store` as they are made (a few MB at a time)
   * rather than held until a checkpoint: a million documents make ~150 MB
   * of leaves. Afterwards the new tree holds everything: the runs are gone
   * (read in with the old tree by a {@link RunMerge}, which copies leaves'
   * values as their bytes) and the overlay is empty. The next checkpoint
   * records the new root and tag and deletes the old tree's nodes, as it
   * deletes any tree's it no longer reaches.
   *
   * Nodes stored before a failure or a crash are nodes of the tree the next
   * attempt makes (the same documents give the same nodes), so a retry
   * stores them again and the checkpoint then reaches them.
   *
   * @param store - stores a slice of the new tree's nodes (in order; the
   *   checkpoint is written after the last one)
   */
  async rebuildStateTree(tag: string, store: (blocks: Array<Block<TreeNode>>) => Promise<void>): Promise<void> {
    const writer = new TreeWriter(tag, this.nodes);
    // The overlay's few entries go through this; the tree's and runs' million are fed inline below
    // and awaited only when the writer had to wait (an await per document cost a 1M rebuild ~1 s).
    const add = async ([key, value]: readonly [string, unknown]): Promise<void> => {
      const adding = writer.addEntry(key, value);
      if (adding) await adding;
    };
    // The runs and the tree are read newest first, not merged into the tree (a merge holds every
    // leaf it rewrites until a checkpoint); the overlay, newer still, is merged in as they go.
    const merge = await RunMerge.of([...this.stateRuns, { tree: this.stateTree }]);
    const overlay = sortedChanges(this.#overlay);
    let o = 0;
    for (let slice = await merge.next(REBUILD_SLICE_ENTRIES); slice.length > 0; slice = await merge.next(REBUILD_SLICE_ENTRIES)) {
      for (const entry of slice) {
        const key = entry[0];
        while (o < overlay.length && overlay[o]![0] < key) await add(overlay[o++]!);
        const newest = o < overlay.length && overlay[o]![0] === key ? overlay[o++]! : entry;
        if (newest[1] !== undefined) {
          const adding = writer.addEntry(key, newest[1]);
          if (adding) await adding;
        } // else a run's deletion: the document is gone
      }
      const blocks = writer.takeWritten();
      if (blocks.length > 0) await store(blocks);
    }
    while (o < overlay.length) await add(overlay[o++]!);
    const { root, created } = await writer.finish();
    await store([...writer.takeWritten(), ...created]);
    this.stateTree = ProllyTree.open(tag, root, this.nodes);
    this.stateRuns = [];
    this.#overlay.clear();
    this.#sortedOverlay = undefined;
    this.#treesMoved = true;
  }

  /**
   * Document registers in id order (or reversed) within `range`, reading the
   * state tree and the unfolded overlay together, so document range reads
   * never wait for a fold. The caller holds the ledger's serial lock, so
   * neither changes during the iteration. Yields a tree leaf's worth at a
   * time (see `EntryBatch` in crdt/prolly-read.ts for why), as
   * {@link StateEntry}s.
   */
  stateBatches(range: { gte?: string; lt?: string; reverse: boolean }): AsyncGenerator<StateEntry[]> {
    return this.#mergedBatches(range, (batch, j, key) => [key, batch.value(j) as Register, batch.fresh]);
  }

  /**
   * {@link stateBatches} for a read that wants each document and nothing
   * else of its register (`allDocs`): a tree leaf's registers are read
   * straight into documents where they can be ({@link readRegisterDoc}),
   * yielded as {@link DocEntry}s; the overlay's registers, and any the
   * fast path declines, come as {@link StateEntry}s.
   */
  docBatches(range: { gte?: string; lt?: string; reverse: boolean }): AsyncGenerator<Array<StateEntry | DocEntry>> {
    return this.#mergedBatches<StateEntry | DocEntry>(range, (batch, j, key) => {
      const doc = batch.valueVia?.(j, (bytes, offset) => readRegisterDoc(bytes, offset, key));
      return doc === undefined ? [key, batch.value(j) as Register, batch.fresh] : [key, undefined, true, doc];
    });
  }

  /** The state tree's entries in `range`, made by `fromTree`, merged with the overlay's (see {@link stateBatches}). */
  async *#mergedBatches<E>(
    range: { gte?: string; lt?: string; reverse: boolean },
    fromTree: (batch: EntryBatch, index: number, key: string) => E | StateEntry,
  ): AsyncGenerator<Array<E | StateEntry>> {
    // Runs are merged in first (the caller holds the serial lock); the overlay is merged as it goes.
    await this.#mergeStateRuns();
    this.#sortedOverlay ??= sortedChanges(this.#overlay);
    const inRange = (k: string): boolean => (range.gte === undefined || k >= range.gte) && (range.lt === undefined || k < range.lt);
    const pending = this.#sortedOverlay.filter(([k]) => inRange(k));
    if (range.reverse) pending.reverse();
    // Decoded as the read reaches it (a read may stop early), for this read alone: the reader may hand the documents out without a copy.
    const fresh = ([key, held]: readonly [string, EncodedCbor]): StateEntry => [key, heldRegister(held), true];
    const comesFirst = range.reverse ? (a: string, b: string) => a > b : (a: string, b: string) => a < b;
    let i = 0;
    for await (const batch of this.stateTree.batches(range)) {
      const out: Array<E | StateEntry> = [];
      for (let j = 0; j < batch.keys.length; j++) {
        const key = batch.keys[j]!;
        while (i < pending.length && comesFirst(pending[i]![0], key)) out.push(fresh(pending[i++]!));
        if (i < pending.length && pending[i]![0] === key) out.push(fresh(pending[i++]!));
        else out.push(fromTree(batch, j, key));
      }
      yield out;
    }
    if (i < pending.length) yield pending.slice(i).map(fresh);
  }

  /**
   * Folds the next `max` entries of each overlay (smallest keys first, from
   * a sorted plan taken at the first call) and reports whether any remain.
   * Lets a checkpoint fold in slices with reads and writes in between. Only
   * entries still in the overlay with the identical value are folded: one a
   * commit replaced since the plan stays in the overlay (which wins over the
   * tree), and one a full fold already moved is never folded twice.
   */
  async foldSome(max: number): Promise<boolean> {
    if (await this.#mergeRunsSome(max)) return true;
    const plan = (this.#foldPlan ??= { state: sortedChanges(this.#overlay), local: sortedChanges(this.#localOverlay), at: 0 });
    const from = plan.at;
    plan.at += max;
    await foldSlice(this.#overlay, plan.state.slice(from, plan.at), (changes) => this.#mutateState(changes));
    await foldSlice(this.#localOverlay, plan.local.slice(from, plan.at), (changes) => this.#mutateLocal(changes));
    const more = plan.at < Math.max(plan.state.length, plan.local.length);
    if (!more) this.#foldPlan = undefined;
    return more;
  }

  /**
   * The runs' part of {@link foldSome}: merges the next `max` entries of the
   * runs there were when it began into the trees, and drops those runs once
   * all are in. Until then the runs still answer reads (with the values the
   * trees now hold too, so nothing reads differently). Returns false when
   * there is nothing of the runs left to merge. A plan whose runs a full
   * fold merged meanwhile is dropped: its values may be older than what
   * that fold put in the trees.
   */
  async #mergeRunsSome(max: number): Promise<boolean> {
    let plan = this.#runPlan;
    if (plan && !(stillThere(plan.stateRuns, this.stateRuns) && stillThere(plan.localRuns, this.localRuns))) plan = this.#runPlan = undefined;
    if (!plan) {
      if (this.stateRuns.length === 0 && this.localRuns.length === 0) return false;
      plan = this.#runPlan = {
        stateRuns: [...this.stateRuns],
        localRuns: [...this.localRuns],
        state: this.stateRuns.length > 0 ? await RunMerge.of(this.stateRuns) : undefined,
        local: this.localRuns.length > 0 ? await RunMerge.of(this.localRuns) : undefined,
        since: this.seq,
      };
    }
    const state = (await plan.state?.next(max)) ?? [];
    const local = (await plan.local?.next(max)) ?? [];
    if (state.length < max) plan.state = undefined;
    if (local.length < max) plan.local = undefined;
    this.#inMergeSlice = true;
    try {
      if (state.length > 0) await this.#mutateState(state, "runs");
      if (local.length > 0) await this.#mutateLocal(local, "runs");
    } finally {
      this.#inMergeSlice = false;
    }
    if (plan.state === undefined && plan.local === undefined) {
      const done = plan;
      this.stateRuns = this.stateRuns.filter((run) => !done.stateRuns.includes(run));
      this.localRuns = this.localRuns.filter((run) => !done.localRuns.includes(run));
      this.#runPlan = undefined;
      // With its runs gone, the trees can no longer be put back to the last checkpoint's (abandonMerge).
      this.#treesMoved = true;
    }
    return true;
  }
}

/** Adds the keys `changes` sets (not those it deletes) to `filter`, if there is one; `ofRun` as for `KeyFilter.add`. */
function addKeys(filter: KeyFilter | undefined, changes: ReadonlyArray<readonly [string, unknown]>, ofRun = false): void {
  if (filter === undefined) return;
  for (const [key, value] of changes) if (value !== undefined) filter.add(key, ofRun);
}

/** A key filter being made from a tree's keys: the filter, and the scan's progress. */
interface FilterBuild {
  readonly filter: KeyFilter;
  /** The last key scanned (the next slice goes on after it); undefined before the first. */
  next: string | undefined;
  /** Where the keys the filter covers end (exclusive); undefined: the end of the tree. */
  readonly end: string | undefined;
}

/**
 * The key filter whose stages a checkpoint recorded as `records`, read from `store`.
 * @throws HearthError `INTEGRITY` if a stage's record is missing or malformed
 */
async function openKeyFilter(
  store: ByteStore, records: readonly KeyFilterStageRecord[], covers: (key: string) => boolean, runsFrom: number,
): Promise<KeyFilter> {
  const stages = await Promise.all(
    records.map(async (record) => {
      const bytes = await store.get(keyFilterKey(record.n));
      if (bytes === undefined) throw new HearthError("INTEGRITY", `key filter record ${keyFilterKey(record.n)} is missing from the ledger's store; the store is damaged`);
      return { record, bytes };
    }),
  );
  return KeyFilter.open(stages, covers, runsFrom);
}

/** Whether every run of `part` is still in `all` (no full fold merged them meanwhile). */
function stillThere(part: readonly Run[], all: readonly Run[]): boolean {
  return part.every((run) => all.includes(run));
}

async function foldSlice<V>(
  overlay: Map<string, V>,
  planned: ReadonlyArray<readonly [string, unknown]>,
  fold: (changes: Array<readonly [string, V]>) => Promise<void>,
): Promise<void> {
  const current = planned.filter(([key, value]) => overlay.has(key) && overlay.get(key) === value) as Array<readonly [string, V]>;
  if (current.length === 0) return;
  await fold(current);
  for (const [key, value] of current) if (overlay.get(key) === value) overlay.delete(key);
}

/**
 * Slabs the state overlay's registers are encoded into: a slab is freed
 * once the overlay (and whatever took its entries) no longer holds any of
 * them. A slab lives as long as its longest-held register, so what one
 * register can pin is kept small: 64 KiB slabs, and registers over 1 KiB
 * in buffers of their own. A slab is only left for a new one once 64
 * registers or more were copied into it, so whatever documents pin them
 * (a few kept among many rewrites of others), the slabs come to at most
 * 1 KiB per change since the overlay was last emptied (~10 MB for a
 * checkpoint interval of 10,000 changes), all freed once a checkpoint
 * empties it.
 */
const heldBytes = new SlabCopier(64 * 1024, 1024);

/** `register` as the state overlay holds it: its dag-cbor bytes (see the module docs). */
function registerHeld(register: Register): EncodedCbor {
  return new EncodedCbor(encodeDagCbor(register, heldBytes));
}

/** A fresh copy of the register the overlay holds as `held`: the caller's to keep or change. */
function heldRegister(held: EncodedCbor): Register {
  return decodeDagCbor<Register>(held.bytes);
}

// The default sort compares strings by UTF-16 code units, the trees' order,
// and is several times faster than a comparator over entries.
function sortedChanges<V>(map: Map<string, V>): Array<readonly [string, V]> {
  return [...map.keys()].sort().map((key) => [key, map.get(key)!] as const);
}

function isRunsCheckpoint(runs: unknown): boolean {
  const r = runs as RunsCheckpoint | undefined;
  const isNumber = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) < r!.next;
  const isRecord = (x: RunRecord): boolean => isNumber(x?.n) && CID.asCID(x.root) !== null && Number.isSafeInteger(x.entries) && x.bloom instanceof Uint8Array;
  const isStages = (s: unknown): boolean => s === undefined || (Array.isArray(s) && s.every((x: KeyFilterStageRecord) => isNumber(x?.n) && Number.isSafeInteger(x.keys) && x.keys >= 0));
  const keys = r?.keys;
  return (
    r !== null && typeof r === "object" && Number.isSafeInteger(r.next) && Array.isArray(r.state) && Array.isArray(r.local) &&
    r.state.every(isRecord) && r.local.every(isRecord) &&
    (keys === undefined || (keys !== null && typeof keys === "object" && isStages(keys.state) && isStages(keys.local))) &&
    (r.scattered === undefined || (typeof r.scattered?.state === "boolean" && typeof r.scattered.local === "boolean")) &&
    r.state.length + r.local.length + (keys?.state ? 1 : 0) + (keys?.local ? 1 : 0) + (r.scattered?.state || r.scattered?.local ? 1 : 0) > 0
  );
}

/** Encodes a checkpoint for the `meta` key. */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  return encodeDagCbor(checkpoint);
}

/**
 * Decodes the `meta` record. It is the one mutable record, so it is not
 * content-addressed; the encryption layer authenticates it instead.
 */
function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  let value: Checkpoint | undefined;
  try {
    value = decodeDagCbor<Checkpoint>(bytes);
  } catch (cause) {
    throw new HearthError("INTEGRITY", "the ledger's checkpoint record is not valid dag-cbor; the store is damaged", { cause });
  }
  if (
    (value?.v !== 1 && value?.v !== 2 && value?.v !== 3) ||
    (value.v >= 2) !== (value.runs !== undefined && isRunsCheckpoint(value.runs)) ||
    (value.v === 2 && (value.runs!.keys !== undefined || value.runs!.scattered !== undefined)) ||
    !Number.isSafeInteger(value.seq) ||
    !Number.isSafeInteger(value.events) ||
    !(value.packed === undefined || (Number.isSafeInteger(value.packed) && value.packed >= 0 && value.packed <= value.events)) ||
    CID.asCID(value.state) === null ||
    !(value.localTag === undefined || value.localTag === LOCAL_TAG || value.localTag === LARGE_LOCAL_TAG) ||
    !(value.stateTag === undefined || value.stateTag === STATE_TAG)
  ) {
    throw new HearthError("INTEGRITY", "the ledger's checkpoint record is not a Hearth checkpoint; the store is damaged or not a Hearth ledger");
  }
  return value;
}
