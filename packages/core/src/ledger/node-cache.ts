/**
 * Where the ledger's trees read their nodes from: nodes made since the last
 * checkpoint (pending, held until persisted), then a cache of nodes bounded
 * in bytes, then the store (verified against the CID on every read).
 *
 * Trees write nothing themselves; every node they create comes back here
 * through {@link NodeCache.addPending}, and the checkpoint decides which of
 * them are still reachable and must be written.
 *
 * The cache is bounded by a byte budget (the `cacheBytes` open option), not
 * by a node count (a node count let a million-document ledger's cache grow
 * past a gigabyte), and evicts the least recently used nodes, approximately
 * (CLOCK). Nodes are cached as their bytes (`EncodedLeaf`,
 * `EncodedBranch`), so the budget holds ~3× more leaves than decoded ones
 * would, and a miss costs one store read and a walk over CBOR heads, not
 * the decoding of every document in the leaf. Under the encryption layer a
 * miss does not re-hash the node either (see the constructor).
 *
 * Leaves, most of what is cached, are held in a {@link LeafArena} (three
 * quarters of the budget): records in segments reused in turn, so
 * evicting a leaf leaves no garbage for V8 to collect later, which had
 * been a third of a process's memory under random reads (see that module).
 * Internal nodes, and leaves the arena cannot hold, are cached as objects
 * in the rest of the budget, evicted by CLOCK. A budget too small for an
 * arena of {@link MIN_SEGMENTS} segments of at least 64 KiB (under
 * ~700 KiB) caches everything as objects.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import type { Block } from "../codec/block.js";
import { HearthError } from "../errors.js";
import { NOT_HELD, type NodeSource, type TreeNode } from "../crdt/prolly-node.js";
import { compactNode, decodeTreeNode, EncodedLeaf, nodeBytes } from "../crdt/prolly-leaf.js";
import type { ByteStore } from "../store/types.js";
import { cidText } from "../codec/cid-text.js";
import { LeafArena } from "./leaf-arena.js";

/** Store key of a tree node. */
export const nodeKey = (cid: CID | string): string => `nd/${typeof cid === "string" ? cid : cidText(cid)}`;

/** The default node cache budget: 64 MiB. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** Share of the budget the leaf arena may take; internal nodes and anything else cached take the rest. */
const ARENA_SHARE = 0.75;
/** Largest arena segment (a leaf is a few KiB; one larger than a segment is cached outside the arena). */
const MAX_SEGMENT_BYTES = 1024 * 1024;
/** Smallest arena segment: a budget too small for {@link MIN_SEGMENTS} of these caches leaves outside any arena. */
const MIN_SEGMENT_BYTES = 64 * 1024;
/** Fewest segments an arena has: reusing one evicts at most this share of the cached leaves at once. */
const MIN_SEGMENTS = 8;

/** The arena for a cache budget, or `undefined` if the budget is too small for one. */
function arenaFor(budgetBytes: number): LeafArena | undefined {
  const capacity = Math.floor(budgetBytes * ARENA_SHARE);
  const segmentBytes = Math.min(MAX_SEGMENT_BYTES, Math.floor(capacity / MIN_SEGMENTS));
  return segmentBytes < MIN_SEGMENT_BYTES ? undefined : new LeafArena(capacity, segmentBytes);
}

/** A cached node, the memory it is charged for, and whether it was read since eviction last passed it. */
interface Cached {
  readonly node: TreeNode;
  readonly bytes: number;
  used: boolean;
}

/** A {@link NodeSource} backed by pending blocks, a byte-bounded LRU cache and a store. */
export class NodeCache implements NodeSource {
  readonly #store: ByteStore;
  readonly #pending = new Map<string, Block<TreeNode>>();
  /** Pending leaves read since they were made: the ones worth caching once persisted. */
  readonly #pendingRead = new Set<string>();
  /** Bytes of the pending blocks. */
  #pendingBytes = 0;
  /**
   * Nodes made before the last checkpoint that it did not persist (a later
   * change superseded them), kept until the next one: a `get` runs without
   * the ledger's serial lock, and one that started on an older root and
   * waited for a read may still step into them.
   */
  #retired = new Map<string, Block<TreeNode>>();
  /**
   * The CLOCK algorithm: a hit only marks its entry used; eviction moves a
   * hand around the map (in insertion order), unmarking used entries (a
   * second chance) and dropping unused ones: least recently used,
   * approximately, without touching the map on a hit. (A delete and
   * re-insert per hit made V8 rehash the map over and over, 3.4 µs per hit
   * on hot nodes; restarting from the oldest entry on every eviction made
   * it skip the deleted slots there again and again.)
   */
  readonly #cache = new Map<string, Cached>();
  /** The clock hand: where eviction goes on from. */
  #hand: Iterator<[string, Cached]> | undefined;
  readonly #budget: number;
  #cachedBytes = 0;
  /** Where leaves are cached (see {@link LeafArena} for why); `#cache` holds the other nodes. */
  readonly #arena: LeafArena | undefined;

  readonly #authenticated: boolean;

  /**
   * @param store - where persisted nodes live (already decrypting)
   * @param budgetBytes - memory the cached nodes may hold, roughly (default {@link DEFAULT_CACHE_BYTES})
   * @param authenticated - `store` authenticates every value under its name
   *   (the encryption layer seals each value with its key name as associated
   *   data, so what `nd/<cid>` returns was sealed under that very name with
   *   the ledger's data key): the CID's hash adds nothing there and is
   *   skipped. Default `false`: every node read is hashed against its CID.
   */
  constructor(store: ByteStore, budgetBytes = DEFAULT_CACHE_BYTES, authenticated = false) {
    this.#store = store;
    this.#budget = budgetBytes;
    this.#arena = arenaFor(budgetBytes);
    this.#authenticated = authenticated;
  }

  /** Memory the cache may hold (the `cacheBytes` open option). */
  get budgetBytes(): number {
    return this.#budget;
  }

  /** Bytes of the nodes made since the last checkpoint, held in memory until it persists them. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Memory the cached nodes hold now, as charged against the budget. */
  get cachedBytes(): number {
    return this.#cachedBytes + (this.#arena?.bytes ?? 0);
  }

  /**
   * Loads a node; synchronous when it is pending or cached. A node read by
   * a `scan` is cached only if it fits without evicting anything: a scan of
   * a ledger larger than the budget would otherwise replace the whole cache
   * with nodes read once, and every one of them would live on as garbage
   * until a full collection (a quarter of a million-document `allDocs` was
   * GC). A ledger that fits is cached by its first scan as before.
   */
  load(cid: CID, scan = false): TreeNode | Promise<TreeNode> {
    const key = cidText(cid);
    return this.#held(key) ?? this.#fetch(cid, key, scan);
  }

  /** Child `index` of `node` if it is held in memory, looked up by its text (no CID made); see {@link NodeSource.heldChild}. */
  heldChild(node: TreeNode, index: number): TreeNode | undefined {
    const text = node.childTextAt?.(index);
    return text === undefined ? undefined : this.#held(text);
  }

  /** See {@link NodeSource.valueInHeldLeaf}: leaves in the arena are read in place. */
  valueInHeldLeaf(node: TreeNode, index: number, tag: string, key: string): unknown {
    const text = this.#arena && node.childTextAt?.(index);
    // A node cached as an object comes first in #held: it answers then (by the usual path).
    if (!text || this.#cache.has(text)) return NOT_HELD;
    return this.#arena!.lookup(text, tag, key);
  }

  /** The node named `key` if it is in memory: cached, pending or retired. */
  #held(key: string): TreeNode | undefined {
    // The cache first: it answers most loads. (A node can be in two of these
    // places only if a tree made it again, with the same bytes.)
    const cached = this.#cache.get(key);
    if (cached) {
      cached.used = true;
      return cached.node;
    }
    const leaf = this.#arena?.get(key);
    if (leaf) return leaf;
    const pending = this.#pending.get(key);
    if (pending) {
      if (pending.value.height === 0) this.#pendingRead.add(key);
      return pending.value;
    }
    return this.#retired.get(key)?.value;
  }

  async #fetch(cid: CID, key: string, scan: boolean): Promise<TreeNode> {
    const bytes = await this.#store.get(nodeKey(key));
    if (bytes === undefined) {
      throw new HearthError(
        "INTEGRITY",
        `tree node ${key} is missing from ${this.#store.url}: the store is incomplete; restore it from a replica or backup`,
      );
    }
    // The CID proves the bytes are what was stored; the shape check proves
    // they are a tree node, so a crafted block can never crash a reader.
    const node = await decodeTreeNode(cid, bytes, this.#authenticated);
    if (!scan || this.#fits(node, bytes.byteLength)) this.#remember(key, node, bytes.byteLength);
    return node;
  }

  /** True if `node` can be cached without evicting anything. */
  #fits(node: TreeNode, encodedBytes: number): boolean {
    if (this.#arena && node instanceof EncodedLeaf && this.#arena.fits(node)) return true;
    return this.cachedBytes + nodeBytes(node, encodedBytes) <= this.#budget;
  }

  #remember(key: string, node: TreeNode, encodedBytes: number): void {
    this.#forget(key);
    if (this.#arena && node instanceof EncodedLeaf && this.#arena.add(key, node)) return;
    const bytes = nodeBytes(node, encodedBytes);
    this.#cache.set(key, { node, bytes, used: false });
    this.#cachedBytes += bytes;
    this.#evict(key);
  }

  /** Drops `key`'s entry outside the arena, if it has one. */
  #forget(key: string): void {
    const previous = this.#cache.get(key);
    if (previous) {
      this.#cache.delete(key);
      this.#cachedBytes -= previous.bytes;
    }
  }

  /** Drops entries until the cache fits its budget (or holds only `keep`, just added, which stays). */
  #evict(keep: string): void {
    // Each step drops an entry or unmarks one, so this ends within two turns of the hand.
    while (this.cachedBytes > this.#budget && this.#cache.size > 1) {
      let step = this.#hand?.next();
      if (!step || step.done) {
        this.#hand = this.#cache.entries();
        step = this.#hand.next();
        if (step.done) return;
      }
      const [key, entry] = step.value;
      if (key === keep) continue;
      if (entry.used) {
        entry.used = false;
      } else {
        this.#cache.delete(key);
        this.#cachedBytes -= entry.bytes;
      }
    }
  }

  /**
   * Records nodes created by a tree mutation; they stay readable until
   * {@link settlePending}. Leaves are kept in their compact form (their
   * bytes), like cached ones: between two checkpoints a bulk load creates
   * thousands of nodes, most of them superseded before the checkpoint, and
   * decoded they held ~10× their size in memory.
   */
  addPending(blocks: Iterable<Block<TreeNode>>): void {
    for (const b of blocks) {
      const compact = compactNode(b.value, b.bytes);
      const key = cidText(b.cid);
      if (!this.#pending.has(key)) this.#pendingBytes += b.bytes.byteLength;
      this.#pending.set(key, compact === b.value ? b : { cid: b.cid, bytes: b.bytes, value: compact });
    }
  }

  /** True if `cid` was created since the last checkpoint (so it may not be stored yet). */
  isPending(cid: CID): boolean {
    return this.#pending.has(cidText(cid));
  }

  /** The pending block for `cid`, if any. */
  pendingBlock(cid: CID): Block<TreeNode> | undefined {
    return this.#pending.get(cidText(cid));
  }

  /**
   * Ends the pending state of every node (call once the checkpoint that
   * persists the reachable ones is written). Of the persisted nodes
   * (`persisted`: their CID texts), internal nodes and leaves read since
   * they were made move into the cache, and the rest are left to the
   * store. Nodes no checkpoint will ever hold (superseded before it) are
   * retired: readable until the next call, then dropped.
   *
   * Why not cache every new node: a bulk load makes a new leaf for every
   * few dozen documents, which no one reads again soon. Caching them all
   * filled the cache with them and evicted them again one checkpoint
   * later, and evicted buffers live on until a full collection: loading a
   * million documents peaked at ~560 MB of RSS against ~380 MB with
   * nodes cached only once read.
   */
  settlePending(persisted: ReadonlySet<string>): void {
    const retired = new Map<string, Block<TreeNode>>();
    for (const [key, block] of this.#pending) {
      if (!persisted.has(key)) retired.set(key, block);
      else if (block.value.height > 0 || this.#pendingRead.has(key)) this.#remember(key, block.value, block.bytes.byteLength);
    }
    this.#retired = retired;
    this.#pending.clear();
    this.#pendingBytes = 0;
    this.#pendingRead.clear();
  }
}
