/**
 * The ledger: Hearth's document database API over the CRDT state, the
 * encrypted store and the secondary indexes.
 *
 * Writes are group-committed: every `put`/`del`/`bulk` issued before the
 * current commit finishes joins the next one, which is one event, one store
 * write and (with `durability: "fsync"`) one fsync. A write resolves only
 * after its event is durable; a failed store write rejects every write in
 * its commit and changes nothing.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { cidText } from "../codec/cid-text.js";
import { HearthError } from "../errors.js";
import { checkDocId, MAX_DOC_BYTES, normalizeDoc, type DocBody } from "../doc/normalize.js";
import { newDocId } from "../ids.js";
import { compareCids, createEvent, eventAuthor, readEvent, type EventBlock, type Op } from "../crdt/event.js";
import { applyOp, liveEvents, type Register } from "../crdt/register.js";
import { bytesEqual } from "../crypto/encoding.js";
import { isPromiseLike } from "../crdt/prolly-node.js";
import type { TreeNode } from "../crdt/prolly.js";
import type { Block } from "../codec/block.js";
import type { ByteStore, Durability } from "../store/types.js";
import { LEGACY_LOCAL_TAG, LEGACY_STATE_TAG, LedgerState, largeNodes, STATE_TAG, encodeCheckpoint, type Checkpoint, type RunsCheckpoint } from "./state.js";
import type { RunRecord } from "./layered-tree.js";
import { NodeCache, nodeKey } from "./node-cache.js";
import { Indexes, describeIndex, type MapFn } from "./indexes.js";
import { treeDelta, type TreeDelta } from "./tree-delta.js";
import { Serial } from "./serial.js";
import { cloneJson } from "./clone.js";
import { INERT_PREFIX, inertKey, keyFilterKey, META_KEY, TAIL_KEY } from "./keys.js";
import { encodeTail } from "./tail.js";
import { EventLog } from "./event-log.js";
import { allDocRows, changeRows, checkRangeOptions, queryRows, readDoc } from "./reads.js";
import type { Keyring } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import type { Platform } from "../platform/types.js";
import type { RefusedEvent, ReplicaPort } from "../sync/port.js";
import { LamportBook } from "./lamport.js";
import { paddedLength } from "../sync/protocol.js";
import { encodeDagCbor } from "../codec/cbor.js";
import { Attachment, type AttachOptions } from "../sync/attachment.js";
import { PointTrust } from "../sync/point-trust.js";
import { pointKey, pointMeta } from "../sync/layout.js";
import { deviceOf } from "../trust/device.js";
import type { Role } from "../trust/entry.js";
import { webCryptoSigner } from "../crypto/signing.js";
import { webCryptoCipher } from "../crypto/cipher.js";
import { fileRootsOf, LedgerFiles } from "../files/ledger-files.js";
import { FileLiveness } from "./file-liveness.js";
import { applyFilesPatch, FILES_FIELD, takeFiles, type FilesPatch, type FilesRequest } from "../files/meta.js";
import type {
  AllDocsOptions, BulkResult, ChangesOptions, Clock, Doc, DocInput, DocRows, GetOptions, IngestResult, QueryOptions, QueryRow, Subscriber,
  WriteResult,
} from "./types.js";

/**
 * Changes between checkpoints (while folds are scattered, or on stores
 * whose records are costly; see {@link checkpointInterval}). Larger means
 * fewer rewrites of tree leaves hit by random keys (the local event index
 * is keyed by CID, so a checkpoint rewrites most of its leaves whatever
 * the interval); smaller means less replay after a crash (~25 µs per
 * event, so ≤ ~0.25 s here). A clean close checkpoints too, unless the
 * changes since are few ({@link CLOSE_TAIL_MAX}).
 */
const CHECKPOINT_EVERY = 10_000;

/**
 * Changes since the last checkpoint up to which a close writes a tail
 * record (`tail.ts`: the overlays they made) instead of a checkpoint,
 * when nothing else changed since (the trees, runs and indexes are as the
 * checkpoint recorded them: `LedgerState.onlyOverlaysSince`). A checkpoint
 * folds the changes into the trees, a leaf rewritten for each change at a
 * random place in a big tree. The tail is carried from session to session
 * until the changes add up past this; then a close checkpoints as before
 * (spilling them into a run if scattered, `LedgerState.spill`). At this
 * many, a tail is ~200 KB, read in one piece by the next open.
 */
const CLOSE_TAIL_MAX = 1_000;

/**
 * Changes between checkpoints while the trees fold in order (ids that
 * mostly append, such as time-ordered ones; see `LedgerState.foldsInOrder`).
 * Such a fold rewrites only the leaves at the trees' ends, so a checkpoint
 * costs little however often it comes; what a longer interval costs is
 * memory: a checkpoint holds its interval's changes, the nodes its fold
 * makes and their sealed copies all at once, and V8 sizes its heap to a
 * multiple of what it last found live. (Not the garbage: the load promoted
 * 446 MB to the old generation at 5,000 against 367 at 10,000, one pair.)
 * Measured, a million documents loaded in order on the file store (peak
 * RSS, four runs of each in turn): 220–245 MB at 10,000 (median 236),
 * 214–238 at 7,000, 200–222 at 5,000 (median 206), 201–225 at 3,500 and
 * 205–236 at 2,500 (more checkpoints, each with records of its own); 297–
 * 314 at 20,000; the load's rate the same throughout. Scattered folds
 * keep {@link CHECKPOINT_EVERY}: their checkpoints spill runs, and twice
 * the runs meant twice the merges (a random-id load at 5,000: 23–24 → 34
 * s). So do stores whose records are costly ({@link largeNodes}:
 * IndexedDB), where each checkpoint's records (`meta`, the trees' upper
 * nodes) weigh more: in headless Chromium at 50,000 documents, 5,000
 * loaded at 30,110–33,387 docs/s against 35,537–38,294 and stored 2.9 MB
 * against 2.8 (three pairs).
 */
const CHECKPOINT_EVERY_IN_ORDER = 5_000;

/**
 * Changes between background checkpoints of a ledger on `store` whose
 * trees fold in order (`foldsInOrder`) or not: fewer while they fold in
 * order, on stores with cheap records (see {@link CHECKPOINT_EVERY_IN_ORDER}).
 */
export function checkpointInterval(foldsInOrder: boolean, store: Pick<ByteStore, "supports">): number {
  return foldsInOrder && !largeNodes(store) ? CHECKPOINT_EVERY_IN_ORDER : CHECKPOINT_EVERY;
}

const EMPTY_VALUE = new Uint8Array(0);

/**
 * Largest event a commit makes: one document at its largest
 * ({@link MAX_DOC_BYTES}) and room for its id and what it supersedes. A
 * bigger commit is made of several events (see `eventsOfAtMost`), so the
 * outbox can always push it: a sync point takes 8 MiB + a bundle's
 * overhead in one object.
 */
const MAX_EVENT_BYTES = MAX_DOC_BYTES + 64 * 1024;

/** Room a document needs around it in a bundle: its event, the write statement, the envelope (a generous bound). */
const BUNDLE_OVERHEAD_BYTES = 4096;

/** Events read per step while a whiteout scans the log. */
const WHITEOUT_SCAN = 1_000;

/** Stands for "no register" when subscribers hear of a document a whiteout took away. */
const GONE: Register = { w: { l: 0, e: new Uint8Array(0), d: null } };

/** Remote events persisted per store write while merging (one write, one fsync, per batch). */
const INGEST_BATCH = 512;

/** Overlay entries folded per serial task during a background checkpoint (~10–20 ms of work). */
const FOLD_SLICE = 1_000;
/**
 * A merge of runs checkpoints its progress once the nodes it made reach
 * the cache budget divided by this. Each such checkpoint holds those nodes
 * about three times over while it writes them (the nodes, the sealed
 * values, the log frame) and keeps the ones it superseded until the next.
 * Measured, a million documents at random ids with the default budget:
 * peak RSS 604–670 MB at 2, 544–575 MB at 4; 8 was no lower and loaded
 * slower (more checkpoints, each rewriting the trees' upper nodes).
 */
const MID_MERGE_CHECKPOINT_DIVISOR = 4;
/**
 * What a checkpoint does with the changes not yet in the trees:
 * - `interval`: spills or folds them, as the state plans
 *   (`LedgerState.checkpointPlan`);
 * - `closing`: the same, as a close plans it (spilling rather than merging);
 * - `midMerge`: leaves them, and records the trees as a merge of runs has
 *   left them so far with everything else as the last checkpoint had it
 *   (see `LedgerState.midMerge`); does nothing if something else moved the
 *   trees since;
 * - `spillDuringMerge`: spills them into runs, leaving a merge of runs
 *   under way as it is (see `LedgerState.spillsDuringMerge`); does nothing
 *   if that no longer holds.
 */
type CheckpointKind = "interval" | "closing" | "midMerge" | "spillDuringMerge";

/** Keys a slice of a key filter's making reads (`LedgerState.buildKeyFiltersSome`): a few milliseconds' work. */
const KEY_SCAN_SLICE = 10_000;

/** One document a write changes: its id, its body (`null` deletes), and what it does to the document's files. */
type PendingOp = readonly [id: string, body: DocBody | null, files?: FilesPatch];

interface PendingWrite {
  readonly ops: ReadonlyArray<PendingOp>;
  resolve(clock: Clock): void;
  reject(err: unknown): void;
}

/** Options the opener passes to {@link Ledger.load}. */
export interface LedgerInternals {
  readonly durability: Durability;
  /** Called once when the ledger closes (releases keyring, registry entries). */
  readonly onClose: () => Promise<void>;
  /** The device keyring (sync point keys, identity). */
  readonly keyring: Keyring;
  /**
   * This device's fingerprint (16 bytes), the author of every event this
   * ledger writes: asked for at the first write, not at open (loading the
   * device identity imports its keys, ~4 ms of a fresh process's open that
   * a ledger only read from need not pay).
   */
  readonly author: () => Promise<Uint8Array>;
  /** Opens remotes by URL and supplies the platform's cipher and compression. */
  readonly platform: Pick<Platform, "openRemote" | "cipher" | "compression" | "signer" | "chunkSealer">;
  /** The node cache's byte budget (see `OpenOptions.cacheBytes`); default 64 MiB (`DEFAULT_CACHE_BYTES`). */
  readonly cacheBytes?: number;
  /**
   * The store is the encryption layer, which authenticates every value
   * under its name, so node reads need not re-hash (see `NodeCache`).
   */
  readonly authenticatedStore?: boolean;
  /**
   * Where file blocks go: the store under the encryption layer (they are
   * ciphertext already, each named by its hash and checked against it on
   * every read; sealing them again only cost time). Default: the ledger's store.
   */
  readonly blockStore?: ByteStore;
}

/**
 * A local, encrypted, convergent document ledger. Obtain one with `open()`.
 *
 * @example
 * ```ts
 * const db = await open("todos");
 * const { id } = await db.put({ title: "milk", done: false });
 * const doc = await db.get(id);
 * const { rows } = await db.query("done", { key: false });
 * const off = db.subscribe((docs) => console.log("changed", docs));
 * await db.close();
 * ```
 */
export class Ledger {
  /** The name the ledger was opened with. */
  readonly name: string;
  readonly #store: ByteStore;
  readonly #state: LedgerState;
  readonly #events: EventLog;
  readonly #indexes: Indexes;
  readonly #internals: LedgerInternals;
  readonly #serial = new Serial();
  readonly #subscribers = new Set<Subscriber>();
  /** Remote events waiting for their parents. */
  readonly #waiting = new Map<string, EventBlock>();
  /** Remote events refused (and so never applied) in this session: what builds on them is refused too. */
  readonly #refused = new Set<string>();
  /** Waiting events to apply inert when their parents arrive (see `LedgerState.apply`). */
  readonly #waitingInert = new Set<string>();
  /** Applied events that are inert (CID text). */
  readonly #inert: Set<string>;
  readonly #lamports: LamportBook;
  /** Sync engines' listeners, called after every commit or merge. */
  readonly #appliedListeners = new Set<() => void>();
  readonly #attachments = new Set<Attachment>();
  readonly #files: LedgerFiles;
  /** Which files documents here refer to, for holders deciding what to put back at a sync point. */
  readonly #fileLiveness = new FileLiveness({
    eventCount: () => this.#state.events,
    scan: (among) => this.#fileReferences(among),
    touchedIn: (from, to) => this.#touchedIn(from, to),
  });
  #queue: PendingWrite[] = [];
  /** The background checkpoint in progress, if any. */
  #checkpointing: Promise<void> | undefined;
  /** Runs the background checkpoint's next slice now instead of on a later turn. */
  #wakeCheckpoint: (() => void) | undefined;
  #drainScheduled = false;
  #closed: Promise<void> | undefined;

  private constructor(name: string, store: ByteStore, state: LedgerState, events: EventLog, internals: LedgerInternals, inert: Set<string>) {
    this.name = name;
    this.#inert = inert;
    this.#store = store;
    this.#state = state;
    this.#events = events;
    this.#indexes = new Indexes(state.nodes, store, state.checkpoint?.ix ?? {});
    this.#internals = internals;
    this.#files = new LedgerFiles(store, internals.blockStore ?? store, internals.platform.cipher ?? webCryptoCipher, internals.durability, name, internals.platform.chunkSealer);
    this.#lamports = new LamportBook(async (cid) => {
      const entry = await state.eventEntry(cid);
      const stored = entry && (await events.read(entry[0]));
      return stored ? (await readEvent(cid, stored.bytes)).value.l : undefined;
    });
  }

  /** Loads a ledger from an (encrypting) store. Used by `open()`. */
  static async load(name: string, store: ByteStore, internals: LedgerInternals): Promise<Ledger> {
    const nodes = new NodeCache(store, internals.cacheBytes, internals.authenticatedStore === true);
    const replayed: Array<[number, EventBlock]> = [];
    const inert = new Set((await store.list(INERT_PREFIX)).map((key) => key.slice(INERT_PREFIX.length)));
    const state = await LedgerState.load(store, nodes, (n, event) => replayed.push([n, event]), inert);
    const events = new EventLog(store, state.checkpoint?.packed ?? 0, `ledger ${JSON.stringify(name)}`);
    // Replayed events are not packed yet: keep them for the next checkpoint.
    if (replayed.length > 0) events.remember(replayed[0]![0], replayed.map(([, event]) => event));
    const ledger = new Ledger(name, store, state, events, internals, inert);
    if (state.stateTree.tag !== STATE_TAG) await ledger.#rebuildStateTree();
    // Runs left by earlier sessions' closes are merged in the background now (see `LedgerState.needsMerge`).
    ledger.#maybeCheckpoint();
    return ledger;
  }

  /**
   * Rebuilds a state tree of an earlier layout under {@link STATE_TAG}
   * (see there for why), storing its nodes as they are made, then writes
   * a checkpoint that records it and deletes the old tree's nodes. Once per
   * ledger, when it is first opened by a release with the new layout: a
   * few seconds at a million documents (4.0–4.6 s, peak RSS 256–270 MB).
   * A failure fails the open and leaves the ledger as it was (plus nodes
   * the next attempt stores again).
   */
  async #rebuildStateTree(): Promise<void> {
    const put = (blocks: ReadonlyArray<Block<TreeNode>>): Promise<void> =>
      this.#store.write({ put: blocks.map((block) => [nodeKey(block.cid), block.bytes] as const) }, { background: true });
    await this.#serial.run(async () => {
      await this.#state.rebuildStateTree(STATE_TAG, put);
      await this.#checkpoint();
    });
  }

  /**
   * Frees the room of what nothing refers to any more: the files of deleted
   * documents, of `_files` entries removed or replaced, and of writes that
   * failed part way (a file referred to by any version of a document,
   * conflicting ones included, stays). Here, and at each attached sync point
   * once that is safe there: when every writer has pushed a write made
   * after seeing this state, so no write still unseen can refer to them
   * (until then their blocks stay there, and the next `compact()` tries
   * again). Then lets the store compact. Writes wait while it runs.
   * @returns how many files and blocks were deleted here, and how many blocks at sync points
   */
  async compact(): Promise<{ files: number; blocks: number; remoteBlocks: number }> {
    this.#assertOpen();
    const freed = await this.#files.exclusive(async () => {
      // No file transfer runs meanwhile: one that verified its uploads while the blocks
      // went would take a dead file's deleted blocks for lost and put them back (see
      // `FileTransfer.hold`). Held until the files here are collected too, or a pass would
      // push what the point just dropped, still held here.
      const releases: Array<() => void> = [];
      try {
        const attachments = [...this.#attachments];
        for (const attachment of attachments) releases.push(await attachment.holdFiles());
        const live = await this.#liveFileRoots();
        let remoteBlocks = 0;
        for (const attachment of attachments) remoteBlocks += await attachment.collectFiles(live);
        const here = await this.#files.collect(live, await this.#rootsAtSyncPoints());
        return { ...here, remoteBlocks };
      } finally {
        for (const release of releases) release();
      }
    });
    await this.#store.maintain?.();
    return freed;
  }

  /** The manifest CIDs of every file any version of any document refers to. */
  async #liveFileRoots(): Promise<Set<string>> {
    return new Set((await this.#fileReferences()).keys());
  }

  /**
   * Files some version of some document refers to, each with one such
   * document's id; given `among`, only those of `among` (the read ends once
   * all are found).
   */
  #fileReferences(among?: ReadonlySet<string>): Promise<Map<string, string>> {
    return this.#read("none", async () => {
      const found = new Map<string, string>();
      for await (const batch of this.#state.stateBatches({ reverse: false })) {
        for (const [id, register] of batch) {
          for (const write of [register.w, ...(register.c ?? [])]) {
            for (const root of fileRootsOf(write.d)) if (!among || among.has(root)) found.set(root, id);
          }
        }
        if (among && found.size === among.size) break;
      }
      return found;
    });
  }

  /** The files the ops of the events at log positions `from..to` refer to, and the documents they change (see {@link FileLiveness}). */
  async #touchedIn(from: number, to: number): Promise<{ files: Set<string>; docs: Set<string> }> {
    const files = new Set<string>();
    const docs = new Set<string>();
    for (let at = from; at <= to; at += WHITEOUT_SCAN) {
      for (const entry of await this.#events.range(at, Math.min(to, at + WHITEOUT_SCAN - 1))) {
        for (const op of (await readEvent(entry.cid, entry.bytes)).value.o) {
          docs.add(op.i);
          for (const root of fileRootsOf(op.d)) files.add(root);
        }
      }
    }
    return { files, docs };
  }

  /** Files some sync point this ledger was attached to holds whole (its bookkeeping's `fd/<cid>`). */
  async #rootsAtSyncPoints(): Promise<Set<string>> {
    const roots = new Set<string>();
    for (const key of await this.#store.list("sy/")) {
      const at = key.indexOf("/fd/");
      if (at >= 0) roots.add(key.slice(at + 4));
    }
    return roots;
  }

  /**
   * True if every event in `targets` is one of `heads` or an ancestor of
   * one (and all of them are here).
   */
  async #covers(heads: readonly CID[], targets: readonly CID[]): Promise<boolean> {
    for (const cid of heads) if (!(await this.#state.hasEvent(cid))) return false;
    let floor = Infinity;
    for (const cid of targets) {
      const lamport = await this.#lamports.of(cid);
      if (lamport === undefined) return false;
      floor = Math.min(floor, lamport);
    }
    const ancestors = await this.#ancestors(heads, floor);
    return targets.every((cid) => ancestors.has(cid.toString()));
  }

  /**
   * `heads` and their ancestors (CID text), down to events of lamport
   * `floor`: nothing below it is looked at, so the walk costs the events
   * since then, not the whole history.
   */
  async #ancestors(heads: readonly CID[], floor: number): Promise<Set<string>> {
    const ancestors = new Set<string>();
    const queue = [...heads];
    while (queue.length > 0) {
      const cid = queue.pop()!;
      const key = cid.toString();
      if (ancestors.has(key)) continue;
      ancestors.add(key);
      const entry = await this.#state.eventEntry(cid);
      const stored = entry && (await this.#events.read(entry[0]));
      if (!stored) continue;
      const { value } = await readEvent(cid, stored.bytes);
      if (value.l <= floor) continue;
      queue.push(...value.p);
    }
    return ancestors;
  }

  /** The URL of the store this ledger lives in. */
  get url(): string {
    return this.#store.url;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Writes a document. An absent `_id` is generated (time-ordered).
   * @returns its id and the ledger clock after the write
   * @throws HearthError `INVALID_DOC` or `TOO_LARGE` (nothing written), or `STORE_CLOSED`
   */
  async put(doc: DocInput): Promise<WriteResult> {
    const { doc: rest, request } = takeFiles(doc);
    const { id, body, bytesAtMost } = normalizeDoc(rest);
    const docId = id ?? newDocId();
    this.#assertFitsSyncPoints(docId, body, bytesAtMost);
    if (request === undefined) return { id: docId, clock: await this.#enqueue([[docId, body]]) };
    const release = await this.#files.beginWrite();
    try {
      return { id: docId, clock: await this.#enqueue([[docId, body, await this.#resolveFiles(docId, request)]]) };
    } finally {
      release();
    }
  }

  /**
   * Refuses up front a document that no bundle could carry to an attached
   * sync point that takes smaller objects (a server run with a small
   * `--max-body`): written, it would block that device's push for good.
   * Cheap unless such a sync point is attached: the size bound from
   * normalizing decides, and only a document near the limit is encoded.
   * @throws HearthError `TOO_LARGE` (nothing written)
   */
  #assertFitsSyncPoints(id: string, body: DocBody, bytesAtMost: number): void {
    let limit = Infinity;
    let point = "";
    for (const attachment of this.#attachments) {
      const max = attachment.maxObjectBytes;
      if (max !== undefined && max < limit) [limit, point] = [max, attachment.url];
    }
    const sealed = (docBytes: number): number => paddedLength(docBytes + BUNDLE_OVERHEAD_BYTES) + BUNDLE_OVERHEAD_BYTES;
    if (sealed(bytesAtMost) <= limit) return;
    const bytes = encodeDagCbor(body).length;
    if (sealed(bytes) <= limit) return;
    throw new HearthError(
      "TOO_LARGE",
      `document ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)} is ${bytes} bytes stored, and sync point ${point} takes objects of at most ${limit} bytes, so it could never get there; put large values in _files (split to fit any sync point), or raise the server's --max-body. Nothing was written`,
    );
  }

  /**
   * Writes the new files of a `put` and resolves the kept ones against the
   * document as it is now. The patch applies at commit, to the document as
   * it is then (see {@link #commitQueued}).
   */
  async #resolveFiles(id: string, request: FilesRequest): Promise<FilesPatch> {
    this.#assertOpen();
    const current = request.changes.some(([, change]) => change.kind === "keep") ? await this.#state.register(id) : undefined;
    return this.#files.resolve(request, current?.w.d ?? undefined, id);
  }

  /**
   * Deletes a document (writes a tombstone). Deleting a missing document is
   * allowed and also leaves a tombstone.
   */
  async del(id: string): Promise<WriteResult> {
    checkDocId(id);
    const clock = await this.#enqueue([[id, null]]);
    return { id, clock };
  }

  /**
   * Writes many documents in one commit: all of them or, if any is invalid,
   * none. A later document with the same `_id` wins over an earlier one.
   */
  async bulk(docs: DocInput[]): Promise<BulkResult> {
    if (!Array.isArray(docs)) throw new TypeError("bulk takes an array of documents");
    const requests: Array<FilesRequest | undefined> = [];
    const ops: PendingOp[] = docs.map((doc) => {
      const { doc: rest, request } = takeFiles(doc);
      const { id, body, bytesAtMost } = normalizeDoc(rest);
      const docId = id ?? newDocId();
      this.#assertFitsSyncPoints(docId, body, bytesAtMost);
      requests.push(request);
      return [docId, body] as const;
    });
    if (ops.length === 0) return { ids: [], clock: this.#clock() };
    const release = requests.some((r) => r !== undefined) ? await this.#files.beginWrite() : undefined;
    let clock: Clock;
    try {
      // Files are written once every document is known to be valid.
      for (const [i, request] of requests.entries()) {
        if (request) ops[i] = [ops[i]![0], ops[i]![1], await this.#resolveFiles(ops[i]![0], request)];
      }
      clock = await this.#enqueue(ops);
    } finally {
      release?.();
    }
    return { ids: ops.map(([id]) => id), clock };
  }

  #enqueue(ops: PendingWrite["ops"]): Promise<Clock> {
    this.#assertOpen();
    return new Promise<Clock>((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject });
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        // Everything enqueued before this microtask runs (and while the
        // previous commit is in flight) joins one commit.
        queueMicrotask(() => void this.#serial.run(() => this.#commitQueued()));
      }
    });
  }

  async #commitQueued(): Promise<void> {
    this.#drainScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    let changed: Array<[string, Register]>;
    let clock: Clock;
    try {
      // One write of one document (a lone put) needs no merging by id.
      const bodies = batch.length === 1 && batch[0]!.ops.length === 1 ? batch[0]!.ops : lastWriteWins(batch);
      const ops: Op[] = [];
      // Read once here and handed to apply: nothing else runs under the lock in between.
      const registers = new Map<string, Register | undefined>();
      for (const [id, body, files] of bodies) {
        const now = this.#state.registerNow(id);
        const current = isPromiseLike(now) ? await now : now;
        registers.set(id, current);
        // A write keeps the document's files unless it says otherwise (`_files`).
        if (body !== null) {
          const kept = applyFilesPatch(current?.w.d, files);
          if (kept !== undefined) body[FILES_FIELD] = kept;
        }
        ops.push({ i: id, d: body, s: liveEvents(current) });
      }
      const events = await eventsOfAtMost(MAX_EVENT_BYTES, this.#state.heads(), this.#state.lamport + 1, ops, await this.#internals.author());
      changed = await this.#persistAndApply(events, new Set(), registers);
      clock = this.#clock();
    } catch (err) {
      for (const write of batch) write.reject(err);
      return;
    }
    for (const write of batch) write.resolve(clock);
    this.#notify(changed);
    this.#notifyApplied();
    this.#maybeCheckpoint();
  }

  // ---------------------------------------------------------------- reads

  /**
   * Reads a document.
   * @throws HearthError `NOT_FOUND` if it does not exist or was deleted
   */
  async get(id: string, options: GetOptions = {}): Promise<Doc> {
    this.#assertOpen();
    checkDocId(id);
    const register = await this.#state.register(id);
    if (register === undefined || register.w.d === null) {
      throw new HearthError(
        "NOT_FOUND",
        `document ${JSON.stringify(id)} ${register ? "was deleted" : "does not exist"} in ledger ${JSON.stringify(this.name)}`,
      );
    }
    const doc = this.#files.hydrate(readDoc(id, register) as Doc);
    if (options.conflicts) doc._conflicts = conflictsOf(id, register);
    return doc;
  }

  /** Lists documents by id (ascending unless `descending`), deleted ones only with `includeDeleted`. */
  async allDocs(options: AllDocsOptions = {}): Promise<DocRows> {
    checkRangeOptions(options);
    return this.#read("none", async () => ({ rows: this.#withFiles(await allDocRows(this.#state, options)), clock: this.#clock() }));
  }

  /**
   * Documents changed after `since` (a clock from an earlier call; omitted:
   * from the beginning), in the order they changed here, each once with its
   * current value. Pass the returned clock to the next call to continue.
   */
  async changes(since: Clock = [], options: ChangesOptions = {}): Promise<DocRows> {
    if (!Array.isArray(since)) throw new HearthError("INVALID_ARGUMENT", "changes(since): since must be a clock (an array) from an earlier result");
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new HearthError("INVALID_ARGUMENT", `limit must be a non-negative integer, got ${String(limit)}`);
    }
    return this.#read("all", async () => {
      const from = await this.#positionOf(since);
      const page = await changeRows(this.#state.localTree, this.#state.stateTree, from, limit);
      return { rows: this.#withFiles(page.rows), clock: page.more ? [`@${page.last}`] : this.#clock() };
    });
  }

  async #positionOf(clock: Clock): Promise<number> {
    let position = 0;
    for (const entry of clock) {
      if (typeof entry !== "string") throw new HearthError("INVALID_ARGUMENT", "a clock is an array of strings from an earlier result");
      if (entry.startsWith("@")) {
        const n = Number(entry.slice(1));
        if (!Number.isSafeInteger(n) || n < 0) throw new HearthError("INVALID_ARGUMENT", `clock cursor ${entry} is malformed`);
        position = Math.max(position, n);
        continue;
      }
      let cid: CID;
      try {
        cid = CID.parse(entry);
      } catch (cause) {
        throw new HearthError("INVALID_ARGUMENT", `clock entry ${JSON.stringify(entry)} is not an event CID`, { cause });
      }
      // Events this replica has not seen say nothing about its positions.
      const applied = await this.#state.eventEntry(cid);
      if (applied !== undefined) position = Math.max(position, applied[1]);
    }
    return position;
  }

  /**
   * Queries a secondary index: by field name (rows for documents that have
   * the field) or by map function. The index is built on first use,
   * persisted, and updated incrementally afterwards.
   */
  async query(field: string | MapFn, options: QueryOptions = {}): Promise<{ rows: QueryRow[] }> {
    checkRangeOptions(options);
    const def = describeIndex(field, options.index);
    return this.#read("all", async () => {
      // A big build is stored as it goes (each slice) and when done, as
      // part of the query that built it, so close stays quick and a crash
      // does not throw the work away.
      const { tree, caughtUp } = await this.#indexes.ready(def, this.#state, () => this.#checkpoint());
      if (caughtUp >= CHECKPOINT_EVERY) await this.#checkpoint();
      const rows = await queryRows(tree, this.#state.stateTree, options);
      for (const row of rows) if (row.doc !== undefined) this.#files.hydrate(row.doc);
      return { rows };
    });
  }

  /**
   * The content address of the ledger's state: equal on every replica that
   * has applied the same writes, whatever order they arrived in.
   */
  async root(): Promise<string> {
    return this.#read("state", async () => this.#state.stateTree.root.toString());
  }

  /** The ledger's current heads (event CIDs): what it has seen. */
  heads(): Clock {
    return this.#clock();
  }

  // ---------------------------------------------------------------- notify

  /**
   * Calls `fn` after every commit, local or merged from elsewhere, with the
   * documents it changed (deleted ones as `{ _id, _deleted: true }`).
   * @returns a function that unsubscribes
   */
  subscribe(fn: Subscriber): () => void {
    if (typeof fn !== "function") throw new TypeError("subscribe takes a function");
    this.#assertOpen();
    this.#subscribers.add(fn);
    return () => void this.#subscribers.delete(fn);
  }

  /** `rows` with their documents' `_files` readable (see `LedgerFiles.hydrate`). */
  #withFiles<R extends { value: { _id: string } }>(rows: R[]): R[] {
    for (const row of rows) this.#files.hydrate(row.value);
    return rows;
  }

  #notify(changed: Array<[string, Register]>): void {
    if (changed.length === 0 || this.#subscribers.size === 0) return;
    for (const fn of [...this.#subscribers]) {
      try {
        // Each subscriber gets its own copies, so none can alter what another sees.
        fn(changed.map(([id, register]) => this.#files.hydrate(readDoc(id, register))));
      } catch (err) {
        // A subscriber's bug must not undo or block a commit; make it loud instead.
        console.error(`hearth: a subscriber of ledger ${JSON.stringify(this.name)} threw`, err);
      }
    }
  }

  // ---------------------------------------------------------------- merge

  /** True if this ledger has applied event `cid`. */
  async hasEvent(cid: string | CID): Promise<boolean> {
    this.#assertOpen();
    return this.#state.hasEvent(typeof cid === "string" ? CID.parse(cid) : cid);
  }

  /**
   * The encoded event block `cid` (for replication to other replicas).
   * @throws HearthError `NOT_FOUND` if this ledger does not hold it
   */
  async eventBlock(cid: string | CID): Promise<{ cid: string; bytes: Uint8Array; parents: string[] }> {
    this.#assertOpen();
    const id = typeof cid === "string" ? CID.parse(cid) : cid;
    const entry = await this.#state.eventEntry(id);
    const bytes = entry && (await this.#events.read(entry[0]))?.bytes;
    if (!bytes) throw new HearthError("NOT_FOUND", `event ${id} is not in ledger ${JSON.stringify(this.name)}`);
    const block = await readEvent(id, bytes);
    return { cid: id.toString(), bytes, parents: block.value.p.map(String) };
  }

  /**
   * Merges event blocks made by other replicas. Each is verified against
   * its CID; events whose parents are not here yet wait (in memory) until
   * they arrive. Applied events are durable before this resolves, and fire
   * subscribers exactly like local commits. An event whose lamport is not
   * exactly one more than its parents' greatest, and whatever builds on it,
   * is refused (counted in `refused`, never applied); the rest is merged.
   * @throws HearthError `INTEGRITY` for a block that fails verification (nothing from the call is merged)
   */
  async ingest(blocks: Iterable<{ cid: string | CID; bytes: Uint8Array }>): Promise<IngestResult> {
    this.#assertOpen();
    const verified: EventBlock[] = [];
    for (const { cid, bytes } of blocks) verified.push(await readEvent(typeof cid === "string" ? CID.parse(cid) : cid, bytes));
    const { refusedEvents: _, ...result } = await this.#ingestVerified(verified);
    return result;
  }

  /**
   * Merges events already verified against their CIDs (see {@link ingest});
   * also names the refused ones. Events in `inert` apply inert.
   */
  #ingestVerified(verified: readonly EventBlock[], inert: ReadonlySet<string> = new Set()): Promise<IngestResult & { refusedEvents: RefusedEvent[] }> {
    this.#assertOpen();
    return this.#serial.run(async () => {
      for (const block of verified) {
        const key = block.cid.toString();
        if (await this.#state.hasEvent(block.cid)) continue;
        this.#waiting.set(key, block);
        if (inert.has(key)) this.#waitingInert.add(key);
      }
      let applied = 0;
      const changed: Array<[string, Register]> = [];
      const { order, refused } = await this.#checkedOrder();
      for (const event of refused) this.#forgetWaiting(event.cid.toString());
      for (let start = 0; start < order.length; start += INGEST_BATCH) {
        const batch = order.slice(start, start + INGEST_BATCH);
        changed.push(...(await this.#persistAndApply(batch, this.#waitingInert)));
        for (const event of batch) this.#forgetWaiting(event.cid.toString());
        applied += batch.length;
      }
      await this.#files.noteReferenced(changed.map(([, register]) => register.w.d));
      this.#notify(changed);
      if (applied > 0) {
        this.#notifyApplied();
        this.#maybeCheckpoint();
      }
      return { applied, waiting: this.#waiting.size, refused: refused.length, refusedEvents: refused };
    });
  }

  /**
   * {@link #applicableOrder}, less the events the lamport rule refuses and
   * those that build on a refused event (now or earlier in this session).
   */
  async #checkedOrder(): Promise<{ order: EventBlock[]; refused: RefusedEvent[] }> {
    const refused: RefusedEvent[] = [];
    const refuse = (event: EventBlock, error: HearthError): void => {
      this.#refused.add(event.cid.toString());
      refused.push(Object.assign(event, { error }));
    };
    // Waiting events above a refused one would wait forever: refuse them now (a chain, to its end).
    for (let found = true; found; ) {
      found = false;
      for (const event of this.#waiting.values()) {
        const parent = this.#refused.has(event.cid.toString()) ? undefined : event.value.p.find((p) => this.#refused.has(p.toString()));
        if (parent === undefined) continue;
        refuse(event, new HearthError("INTEGRITY", `event ${event.cid} builds on the refused event ${parent}; it was not merged`));
        this.#forgetWaiting(event.cid.toString());
        found = true;
      }
    }
    const order: EventBlock[] = [];
    const accepted = new Map<string, EventBlock>();
    for (const event of await this.#applicableOrder()) {
      const parent = event.value.p.find((p) => this.#refused.has(p.toString()));
      const error = parent
        ? new HearthError("INTEGRITY", `event ${event.cid} builds on the refused event ${parent}; it was not merged`)
        : await this.#lamports.violation(event, accepted);
      if (error) {
        refuse(event, error);
        continue;
      }
      accepted.set(event.cid.toString(), event);
      order.push(event);
    }
    return { order, refused };
  }

  #forgetWaiting(key: string): void {
    this.#waiting.delete(key);
    this.#waitingInert.delete(key);
  }

  /**
   * Makes `events` durable as the next `ev/<n>`s in one store write (with
   * the marks of those in `inert`), then applies them in order; returns
   * what they changed.
   */
  async #persistAndApply(
    events: readonly EventBlock[], inert: ReadonlySet<string> = new Set(), registers?: ReadonlyMap<string, Register | undefined>,
  ): Promise<Array<[string, Register]>> {
    const first = this.#state.events + 1;
    const put = this.#events.puts(first, events);
    const marks = inert.size === 0 ? [] : events.filter((e) => inert.has(e.cid.toString())).map((e) => [inertKey(e.cid), EMPTY_VALUE] as const);
    await this.#store.write({ put: marks.length === 0 ? put : [...put, ...marks] }, { durability: this.#internals.durability });
    this.#events.remember(first, events);
    const changed: Array<[string, Register]> = [];
    for (const event of events) {
      // (A local commit has no inert events: no CID text on the write path.)
      const isInert = inert.size > 0 && inert.has(event.cid.toString());
      changed.push(...(await this.#state.apply(event, isInert, registers)));
      if (isInert) this.#inert.add(event.cid.toString());
      this.#lamports.remember(event);
    }
    return changed;
  }

  /**
   * Makes every applied event by `author` that is not among the ancestors
   * of `heads` (nor one of them) inert: what a removal's cutoff says (see
   * `sync/inbox.ts`). Returns how many were made inert now, or `undefined`
   * while some of `heads` are not applied here (it cannot tell yet).
   */
  async #whiteoutOutside(author: Uint8Array, heads: readonly CID[]): Promise<number | undefined> {
    for (const head of heads) if (!(await this.#state.hasEvent(head))) return undefined;
    // The author's applied events that still count, by a scan of the log (removals are rare).
    const candidates: Array<{ cid: CID; lamport: number }> = [];
    for (let from = 1; from <= this.#state.events; from += WHITEOUT_SCAN) {
      for (const entry of await this.#events.range(from, Math.min(this.#state.events, from + WHITEOUT_SCAN - 1))) {
        const by = eventAuthor(entry.bytes);
        if (!by || !bytesEqual(by, author) || this.#inert.has(entry.cid.toString())) continue;
        candidates.push({ cid: entry.cid, lamport: (await readEvent(entry.cid, entry.bytes)).value.l });
      }
    }
    if (candidates.length === 0) return 0;
    // Ancestors of the heads, down to the lowest lamport among the candidates.
    const ancestors = await this.#ancestors(heads, Math.min(...candidates.map((c) => c.lamport)));
    const outside = candidates.filter((c) => !ancestors.has(c.cid.toString())).map((c) => c.cid);
    if (outside.length > 0) await this.#whiteout(outside);
    return outside.length;
  }

  /**
   * Makes applied events inert after the fact: the documents they wrote get
   * their registers recomputed from the events that still count (a scan of
   * the log), and the new state and the inert marks are made durable
   * together, in one checkpoint. Subscribers hear of the documents that
   * changed, as for any merge.
   */
  #whiteout(cids: readonly CID[]): Promise<void> {
    return this.#serial.run(async () => {
      const fresh = cids.filter((cid) => !this.#inert.has(cid.toString()));
      if (fresh.length === 0) return;
      for (const cid of fresh) this.#inert.add(cid.toString());
      this.#fileLiveness.forget(); // taken-back events may bring back versions that refer to files
      const ids = new Set<string>();
      for (const cid of fresh) {
        const entry = await this.#state.eventEntry(cid);
        const stored = entry && (await this.#events.read(entry[0]));
        if (stored) for (const op of (await readEvent(cid, stored.bytes)).value.o) ids.add(op.i);
      }
      const registers = new Map<string, Register>();
      for (let from = 1; from <= this.#state.events; from += WHITEOUT_SCAN) {
        for (const entry of await this.#events.range(from, Math.min(this.#state.events, from + WHITEOUT_SCAN - 1))) {
          if (this.#inert.has(entry.cid.toString())) continue;
          const { value } = await readEvent(entry.cid, entry.bytes);
          for (const op of value.o) if (ids.has(op.i)) registers.set(op.i, applyOp(registers.get(op.i), op, entry.cid, value.l));
        }
      }
      const changes = [...ids].map((id) => [id, registers.get(id)] as const);
      await this.#state.rewrite(changes);
      await this.#checkpoint(fresh.map((cid) => [inertKey(cid), EMPTY_VALUE] as const));
      this.#notify(changes.map(([id, register]) => [id, register ?? GONE] as [string, Register]));
    });
  }

  /**
   * The waiting events that can be applied now, parents before children
   * (Kahn's algorithm over the waiting set: linear in events and parent
   * links, where re-scanning the set per round was quadratic for a chain).
   * Among events ready together, lower lamport (then CID) goes first, so
   * local positions are deterministic for the same input.
   */
  async #applicableOrder(): Promise<EventBlock[]> {
    const missing = new Map<string, number>();
    const dependents = new Map<string, EventBlock[]>();
    const ready: EventBlock[] = [];
    for (const [key, event] of this.#waiting) {
      let count = 0;
      for (const parent of event.value.p) {
        const parentKey = parent.toString();
        if (this.#waiting.has(parentKey)) {
          count++;
          const list = dependents.get(parentKey);
          if (list) list.push(event);
          else dependents.set(parentKey, [event]);
        } else if (!(await this.#state.hasEvent(parent))) {
          count = Infinity; // a parent nobody has sent yet: wait for it
        }
      }
      if (count === 0) ready.push(event);
      else missing.set(key, count);
    }
    const byClock = (a: EventBlock, b: EventBlock): number => a.value.l - b.value.l || compareCids(a.cid, b.cid);
    const order: EventBlock[] = [];
    ready.sort(byClock);
    while (ready.length > 0) {
      const event = ready.shift()!;
      order.push(event);
      const unblocked: EventBlock[] = [];
      for (const child of dependents.get(event.cid.toString()) ?? []) {
        const key = child.cid.toString();
        const left = missing.get(key)! - 1;
        missing.set(key, left);
        if (left === 0) unblocked.push(child);
      }
      if (unblocked.length > 0) {
        ready.push(...unblocked);
        ready.sort(byClock);
      }
    }
    return order;
  }

  // ---------------------------------------------------------------- sync

  /**
   * Attaches this ledger to a sync point (a remote) and keeps both in sync,
   * in both directions, until detached or closed. Resolves once this
   * device holds the sync point's key (the first sync runs in the
   * background; await `synced()` on the result to wait for it).
   *
   * The first replica to attach to an empty sync point creates its key.
   * Others on the same device (same keyring) need nothing more; another
   * device needs an `invite` for its public key or a `shareCode` (or the
   * `passphrase` the point was created with).
   *
   * @param target - `memory://name`, `file:///shared/dir` (Node), or a {@link Remote}
   * @throws HearthError `KEY_REQUIRED` (fast, naming the point and the remedies), `INVALID_URL`,
   *   `INVALID_ARGUMENT` (already attached), `STORAGE_FAILED` (remote unreachable)
   * @example
   * ```ts
   * const a = await db.attach("file:///shared/todos");
   * await a.synced({ timeoutMs: 5000 });
   * ```
   */
  async attach(target: string | Remote, options: AttachOptions = {}): Promise<Attachment> {
    this.#assertOpen();
    if (options === null || typeof options !== "object") throw new TypeError("attach options must be an object");
    const owned = typeof target === "string";
    const remote = owned ? await this.#internals.platform.openRemote(target) : target;
    try {
      for (const a of this.#attachments) {
        if (a.url === remote.url) throw new HearthError("INVALID_ARGUMENT", `ledger ${JSON.stringify(this.name)} is already attached to ${remote.url}; detach it first`);
      }
      const port = this.#replicaPort();
      const meta = pointMeta(port.meta, await pointKey(remote.url));
      const keyring = this.#internals.keyring;
      const trust = await PointTrust.open({ remote, keyring, signer: port.signer, meta, dataHeads: () => this.#state.heads() }, options);
      const attachment: Attachment = new Attachment(
        {
          port, remote, trust, meta,
          identity: await keyring.identity(),
          onDetach: async () => {
            this.#attachments.delete(attachment);
            if (owned) await remote.close();
          },
        },
        options,
      );
      await attachment.start();
      this.#attachments.add(attachment);
      return attachment;
    } catch (err) {
      if (owned) await remote.close().catch(() => undefined);
      // The remote's own messages promise a retry, which a sync engine makes; attach makes none.
      if (err instanceof HearthError && err.code === "STORAGE_FAILED") {
        throw new HearthError(
          "STORAGE_FAILED",
          `${err.message.replace(/; it will be retried$/, "")}; nothing was attached: check that the sync point is reachable and its URL right, then attach again`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Adds another device to every sync point this ledger is attached to (as
   * `attachment.invite` does), `"writer"` unless `role` says otherwise.
   * @param publicKey - the other device's `(await db.device()).publicKey`
   * @returns the sync points, and for each the invitation the device attaches with (`{ invitation }`)
   * @throws HearthError `INVALID_ARGUMENT` if not attached anywhere or the key is malformed; `FORBIDDEN` unless this device is an admin there
   */
  async invite(publicKey: string, options: { role?: Role } = {}): Promise<{ syncPoints: string[]; invitations: string[] }> {
    this.#assertOpen();
    if (this.#attachments.size === 0) {
      throw new HearthError("INVALID_ARGUMENT", `ledger ${JSON.stringify(this.name)} is not attached to any sync point; attach first, then invite`);
    }
    const syncPoints: string[] = [];
    const invitations: string[] = [];
    for (const a of this.#attachments) {
      invitations.push(await a.invite(publicKey, options));
      syncPoints.push(a.url);
    }
    return { syncPoints, invitations };
  }

  /**
   * This device's public identity: give `publicKey` to an admin so it can
   * invite this device. It is both of the device's public keys (one to
   * receive keys, one to check its signatures); `fingerprint` names it.
   */
  async device(): Promise<{ publicKey: string; fingerprint: string }> {
    this.#assertOpen();
    const me = deviceOf(await this.#internals.keyring.identity());
    return { publicKey: me.text, fingerprint: me.fingerprint };
  }

  /** The attachments currently active. */
  attachments(): Attachment[] {
    return [...this.#attachments];
  }

  async #detachAll(): Promise<void> {
    await Promise.all([...this.#attachments].map((a) => a.detach()));
  }

  #notifyApplied(): void {
    for (const fn of [...this.#appliedListeners]) fn();
  }

  /** The narrow view of this ledger a sync engine works through. */
  #replicaPort(): ReplicaPort {
    const store = this.#store;
    const platform = this.#internals.platform;
    return {
      name: this.name,
      keyring: this.#internals.keyring,
      ...(platform.cipher && { cipher: platform.cipher }),
      ...(platform.compression && { compression: platform.compression }),
      signer: platform.signer ?? webCryptoSigner,
      heads: () => this.#state.heads(),
      eventCount: () => this.#state.events,
      eventsFrom: (from, limit) => this.#events.range(from, Math.min(this.#state.events, from + limit - 1)),
      hasEvent: (cid) => this.hasEvent(cid),
      eventBytes: async (cid) => {
        const entry = await this.#state.eventEntry(cid);
        return entry && (await this.#events.read(entry[0]))?.bytes;
      },
      ingest: (events, inert) => this.#ingestVerified(events, inert),
      whiteoutOutside: (author, heads) => this.#whiteoutOutside(author, heads),
      files: this.#files,
      covers: (heads, targets) => this.#covers(heads, targets),
      liveFiles: (roots) => this.#fileLiveness.live(roots),
      onApplied: (fn) => {
        this.#appliedListeners.add(fn);
        return () => void this.#appliedListeners.delete(fn);
      },
      meta: {
        get: (key) => store.get(key),
        list: (prefix) => store.list(prefix),
        write: (put, del) => store.write({ put, ...(del && { del }) }, { durability: this.#internals.durability }),
      },
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Finishes pending writes, checkpoints, and releases the store. Idempotent.
   * Every later call rejects with `STORE_CLOSED`.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      // A background compaction's copy would be thrown away by the store's close: stop it now.
      this.#store.windDown?.();
      await this.#flushForClose();
      await this.#detachAll();
      try {
        // Half a background merge is put back (its runs still hold it) rather than written now.
        await this.#serial.run(() => (this.#state.abandonMerge(), this.#checkpoint([], "closing")));
        await this.#store.maintain?.();
      } finally {
        this.#subscribers.clear();
        await this.#store.close();
        await this.#internals.onClose();
      }
    })();
    return this.#closed;
  }

  /** Closes the ledger and deletes all of its data. */
  async destroy(): Promise<void> {
    if (this.#closed === undefined) {
      this.#closed = (async () => {
        await this.#flushForClose();
        await this.#detachAll();
        this.#subscribers.clear();
        await this.#store.destroy();
        await this.#internals.onClose();
      })();
      return this.#closed;
    }
    await this.#closed;
    throw new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.name)} is closed; open it again to destroy it`);
  }

  async #flushForClose(): Promise<void> {
    // Writes enqueued before close() still commit; a background checkpoint
    // stops at its next slice (close writes the final one).
    await this.#serial.run(() => this.#commitQueued());
    await this.#checkpointing;
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) {
      throw new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.name)} is closed; open it again to use it`);
    }
  }

  /**
   * Runs a read under the serial lock, with no tree folded (reads that merge
   * the overlay themselves), the state tree folded (the root), or both (the
   * change feed and index catch-up, which walk the local tree).
   */
  async #read<T>(trees: "none" | "state" | "all", fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#serial.run(async () => {
      if (trees === "state") await this.#state.foldState();
      if (trees === "all") await this.#state.fold();
      return fn();
    });
  }

  #clock(): Clock {
    return this.#state.heads().map(cidText);
  }

  /** Changes between checkpoints now: see {@link checkpointInterval}. */
  #checkpointEvery(): number {
    return checkpointInterval(this.#state.foldsInOrder, this.#store);
  }

  /**
   * Starts a checkpoint in the background once enough has changed. Called
   * from inside a serial task, so it must not wait for the serial queue.
   */
  #maybeCheckpoint(): void {
    const behind = this.#state.seq - (this.#state.checkpoint?.seq ?? 0);
    if (this.#checkpointing) {
      // Writes that never yield to the event loop must not outrun it forever: past this many changes
      // behind, each write lets the checkpoint go on a slice. One interval while the trees fold in
      // order: a bulk load of a million documents with ids in order then checkpoints ~26,000 changes
      // behind, not ~36,000, and its peak RSS fell from 298–312 to 250–271 MB (three pairs, the rate
      // unchanged: a fold holds what it makes until its checkpoint writes it). Two once writes are
      // judged scattered and spilled into runs: waking at one interval there made more, smaller runs
      // to merge, a random-id load 40,000 → 31,000 docs/s. (A random-id load is judged in order
      // until its tree grows; 100,000 of them now close in 49–55 ms, not 143–169.)
      if (behind >= (this.#state.foldsInOrder ? 1 : 2) * this.#checkpointEvery()) this.#wakeCheckpoint?.();
      return;
    }
    if (behind < this.#checkpointEvery() && !this.#state.needsMerge) return;
    this.#checkpointing = this.#checkpointInSlices()
      .catch((err: unknown) => {
        // Nothing is lost (every commit is durable in ev/<n>); the next
        // trigger or close() retries. Say so rather than stay silent.
        console.error(`hearth: checkpoint of ledger ${JSON.stringify(this.name)} failed; it will be retried`, err);
      })
      .finally(() => {
        this.#checkpointing = undefined;
      });
  }

  /**
   * Folds the overlays a slice at a time, each slice its own serial task so
   * reads and writes are never held up for long, then writes the checkpoint.
   * Each slice waits for a later turn of the event loop: background work
   * yields to a burst of reads or writes in progress (which would otherwise
   * pay for it) and runs once the app pauses, or, if writes go on without
   * pausing, once they are two intervals ahead ({@link #maybeCheckpoint}).
   */
  async #checkpointInSlices(): Promise<void> {
    // Spilling the overlays into runs is one short step (the checkpoint itself); folding is sliced,
    // as is making a key filter (`key-filter.ts`), done first.
    while (this.#state.buildingKeyFilters || this.#state.checkpointPlan() === "fold") {
      await new Promise<void>((resolve) => {
        this.#wakeCheckpoint = resolve;
        laterTurn(resolve);
      });
      this.#wakeCheckpoint = undefined;
      // Slices grow with how far behind the checkpoint is, so a long fold (a merge of runs) under
      // a steady stream of writes ends instead of letting the overlays (or, as they are spilled
      // meanwhile, the runs) grow without bound.
      const changes = Math.max(this.#state.seq - (this.#state.checkpoint?.seq ?? 0), this.#state.changesSinceMergeBegan);
      const behind = Math.max(1, Math.floor(changes / this.#checkpointEvery()));
      if (this.#closed !== undefined) break;
      if (this.#state.buildingKeyFilters) {
        await this.#serial.run(() => this.#state.buildKeyFiltersSome(KEY_SCAN_SLICE));
        continue;
      }
      // The plan may have changed since the loop's test (a checkpoint in between spilled): checked again under the lock.
      if (!(await this.#serial.run(async () => this.#state.checkpointPlan() === "fold" && (await this.#state.foldSome(FOLD_SLICE * behind))))) break;
      // A long merge persists its progress instead of holding all its new nodes until it ends,
      // and spills the writes made meanwhile every interval, as outside a merge.
      const nodes = this.#state.nodes;
      if (this.#state.spillsDuringMerge && this.#state.seq - (this.#state.checkpoint?.seq ?? 0) >= CHECKPOINT_EVERY) {
        await this.#serial.run(() => this.#checkpoint([], "spillDuringMerge"));
      } else if (this.#state.midMerge && nodes.pendingBytes >= nodes.budgetBytes / MID_MERGE_CHECKPOINT_DIVISOR) {
        await this.#serial.run(() => this.#checkpoint([], "midMerge"));
      }
    }
    if (this.#closed === undefined) await this.#serial.run(() => this.#checkpoint());
  }

  /**
   * Folds the overlays and writes, in one atomic batch: the tree nodes made
   * since the last checkpoint that are still reachable, the deletion of the
   * ones no longer reachable, and the new `meta`. Runs under the serial lock.
   *
   * `kind` (see {@link CheckpointKind}) says what happens to the changes
   * not yet in the trees first.
   */
  async #checkpoint(extra: ReadonlyArray<readonly [string, Uint8Array]> = [], kind: CheckpointKind = "interval"): Promise<void> {
    const state = this.#state;
    const previous = state.checkpoint;
    const midMerge = kind === "midMerge";
    if (midMerge) {
      if (!state.midMerge || previous === undefined) return;
    } else if (kind === "spillDuringMerge") {
      if (!state.spillsDuringMerge) return;
      // The merge goes on; the overlays become runs in front of the ones it merges.
      await state.spill({ state: true, local: true });
      await state.judgeFolds();
    } else {
      const closing = kind === "closing";
      if (closing && extra.length === 0 && previous !== undefined && (await this.#closeWithTail(previous))) return;
      // Scattered changes become runs (`layered-tree.ts`) while there are few; else everything is folded.
      if (state.checkpointPlan(closing) === "spill") await state.spill(undefined, closing);
      else await state.fold();
      await state.judgeFolds();
    }
    // What the trees and runs hold: the last checkpoint's events while a merge is under way.
    const held = midMerge ? previous! : { events: state.events, seq: state.seq, lamport: state.lamport, heads: state.heads() };
    const indexes = this.#indexes.snapshot();
    const layers = state.layersCheckpoint();
    const runs = layers.runs;
    const unchanged =
      extra.length === 0 &&
      previous !== undefined &&
      previous.seq === state.seq &&
      previous.state.equals(state.stateTree.root) &&
      sameRuns(previous.runs, runs) &&
      indexesStored(indexes);
    if (unchanged) return;
    const deltas = await Promise.all([
      treeDelta(state.nodes, previous?.state, state.stateTree.root),
      treeDelta(state.nodes, previous?.local, state.localTree.root),
      ...indexes.map((ix) => treeDelta(state.nodes, ix.stored, ix.current)),
      ...runDeltas(state.nodes, previous?.runs, runs),
    ]);
    const put: Array<readonly [string, Uint8Array]> = [...extra, ...layers.put];
    const del: string[] = keyFilterRecordsGone(previous?.runs, runs);
    const persisted = new Set<string>();
    // Nodes of new runs are stored uncompressed (see `WriteOptions.compress`): the deltas after the trees' and indexes'.
    const firstRunDelta = 2 + indexes.length;
    const runNodes = new Set<string>();
    deltas.forEach(({ added, removed }, i) => {
      for (const cid of added) {
        const text = cidText(cid);
        persisted.add(text);
        put.push([nodeKey(text), state.nodes.pendingBlock(cid)!.bytes]);
        if (i >= firstRunDelta) runNodes.add(nodeKey(text));
      }
      for (const cid of removed) del.push(nodeKey(cid));
    });
    // Complete runs of events since the last pack go into segments in the same batch.
    const pack = midMerge ? undefined : await this.#events.planPack(state.events);
    if (pack) {
      put.push(...pack.put);
      del.push(...pack.del);
    }
    const checkpoint: Checkpoint = {
      v: runs === undefined ? 1 : runs.keys !== undefined || runs.scattered !== undefined ? 3 : 2,
      events: held.events,
      packed: pack?.packed ?? this.#events.packed,
      seq: held.seq,
      lamport: held.lamport,
      heads: held.heads,
      state: state.stateTree.root,
      ...(state.stateTree.tag !== LEGACY_STATE_TAG && { stateTag: state.stateTree.tag }),
      local: state.localTree.root,
      ...(state.localTree.tag !== LEGACY_LOCAL_TAG && { localTag: state.localTree.tag }),
      ix: Object.fromEntries(indexes.map((ix) => [ix.name, ix.entry])),
      ...(runs && { runs }),
    };
    put.push([META_KEY, encodeCheckpoint(checkpoint)]);
    // Bloom filters are random bits, which deflate cannot shrink: key filter stages, and `meta`
    // once it records runs (each run's filter is in its record). Deflating a `meta` of 17 runs a
    // tree (2.3 MB) took ~30 ms of every checkpoint, a million documents into a random-id load.
    const incompressible = new Set(layers.put.map(([key]) => key));
    if (runs !== undefined) incompressible.add(META_KEY);
    const compress =
      runNodes.size === 0 && incompressible.size === 0 ? undefined : (key: string): boolean => !runNodes.has(key) && !incompressible.has(key);
    if (state.tailStored) del.push(TAIL_KEY);
    const write = (): Promise<void> => this.#store.write({ put, del }, { durability: this.#internals.durability, background: true, ...(compress && { compress }) });
    await (pack ? this.#events.pack(pack, write) : write());
    state.markCheckpointed(checkpoint);
    layers.written();
    this.#indexes.markStored();
    state.nodes.settlePending(persisted);
  }

  /**
   * A close's alternative to a checkpoint after `previous`: when only the
   * overlays changed since, by at most {@link CLOSE_TAIL_MAX} changes,
   * writes them as the tail record (`tail.ts`), or nothing if the stored
   * one already holds them all. Returns whether it did (else the close
   * checkpoints).
   */
  async #closeWithTail(previous: Checkpoint): Promise<boolean> {
    const state = this.#state;
    if (!state.onlyOverlaysSince(previous, CLOSE_TAIL_MAX) || !indexesStored(this.#indexes.snapshot())) return false;
    if (state.seq === previous.seq || state.seq === state.tailSeq) return true;
    await this.#store.write({ put: [[TAIL_KEY, encodeTail(state.tailAfter(previous))]], del: [] }, { durability: this.#internals.durability, background: true });
    state.tailStored = true;
    state.tailSeq = state.seq;
    return true;
  }
}

/** True if every index's tree is the one the last checkpoint stored. */
function indexesStored(indexes: ReturnType<Indexes["snapshot"]>): boolean {
  return indexes.every((ix) => ix.stored?.equals(ix.current));
}

/** True if two checkpoints' runs and key filters are the same (by number: a run or stage record never changes). */
function sameRuns(a: RunsCheckpoint | undefined, b: RunsCheckpoint | undefined): boolean {
  const numbers = (r: RunsCheckpoint | undefined): string =>
    r ? `${r.state.map((x) => x.n).join(",")}|${r.local.map((x) => x.n).join(",")}|${keyFilterRecords(r).join(",")}` : "||";
  return numbers(a) === numbers(b);
}

/** The key filter stage records a checkpoint's runs name. */
function keyFilterRecords(r: RunsCheckpoint | undefined): number[] {
  return [...(r?.keys?.state ?? []), ...(r?.keys?.local ?? [])].map((x) => x.n);
}

/** Store keys of the key filter stage records `before` names and `after` no longer does. */
function keyFilterRecordsGone(before: RunsCheckpoint | undefined, after: RunsCheckpoint | undefined): string[] {
  const kept = new Set(keyFilterRecords(after));
  return keyFilterRecords(before).filter((n) => !kept.has(n)).map(keyFilterKey);
}

/** The node deltas of the runs a checkpoint adds (every node new) and drops (every node gone). */
function runDeltas(nodes: NodeCache, before: RunsCheckpoint | undefined, after: RunsCheckpoint | undefined): Array<Promise<TreeDelta>> {
  const all = (r: RunsCheckpoint | undefined): RunRecord[] => (r ? [...r.state, ...r.local] : []);
  const had = new Set(all(before).map((x) => x.n));
  const has = new Set(all(after).map((x) => x.n));
  return [
    ...all(after).filter((x) => !had.has(x.n)).map((x) => treeDelta(nodes, undefined, x.root)),
    ...all(before).filter((x) => !has.has(x.n)).map((x) => treeDelta(nodes, x.root, undefined)),
  ];
}

/**
 * Events for `ops`, each at most `maxBytes` unless it holds one op, each the
 * parent of the next: one commit in one store write, but in pieces that a
 * sync point can take one at a time. A commit is one event unless it is big
 * (a bulk of thousands of large documents, or many puts grouped while a
 * commit was in flight); only then is it encoded more than once.
 */
async function eventsOfAtMost(maxBytes: number, parents: CID[], lamport: number, ops: Op[], author: Uint8Array): Promise<EventBlock[]> {
  const event = await createEvent(parents, lamport, ops, author);
  if (event.bytes.length <= maxBytes || ops.length === 1) return [event];
  const half = ops.length >> 1;
  const first = await eventsOfAtMost(maxBytes, parents, lamport, ops.slice(0, half), author);
  const rest = await eventsOfAtMost(maxBytes, [first[first.length - 1]!.cid], lamport + first.length, ops.slice(half), author);
  return [...first, ...rest];
}

/** The documents a batch of writes sets, each once, with the last body written for it. */
function lastWriteWins(batch: readonly PendingWrite[]): PendingOp[] {
  const bodies = new Map<string, PendingOp>();
  for (const write of batch) for (const op of write.ops) bodies.set(op[0], op);
  return [...bodies.values()];
}

/** Calls `fn` on a later turn of the event loop, after pending I/O callbacks. */
function laterTurn(fn: () => void): void {
  if (typeof setImmediate === "function") setImmediate(fn);
  else setTimeout(fn, 0);
}

function conflictsOf(id: string, register: Register): Doc[] {
  return (register.c ?? []).filter((w) => w.d !== null).map((w) => ({ _id: id, ...cloneJson(w.d!) }) as Doc);
}
