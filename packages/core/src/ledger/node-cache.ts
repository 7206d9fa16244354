/**
 * Where the ledger's trees read their nodes from: nodes made since the last
 * checkpoint (pending, held until persisted), then a bounded cache of
 * decoded nodes, then the store (verified against the CID on every read).
 *
 * Trees write nothing themselves; every node they create comes back here
 * through {@link NodeCache.addPending}, and the checkpoint decides which of
 * them are still reachable and must be written.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { decodeBlock, type Block } from "../codec/block.js";
import { HearthError } from "../errors.js";
import { asTreeNode, type NodeSource, type TreeNode } from "../crdt/prolly.js";
import type { ByteStore } from "../store/types.js";
import { cidText } from "../codec/cid-text.js";

/** Store key of a tree node. */
export const nodeKey = (cid: CID | string): string => `nd/${typeof cid === "string" ? cid : cidText(cid)}`;

/** A {@link NodeSource} backed by pending blocks, an LRU cache and a store. */
export class NodeCache implements NodeSource {
  readonly #store: ByteStore;
  readonly #pending = new Map<string, Block<TreeNode>>();
  readonly #cache = new Map<string, TreeNode>();
  readonly #capacity: number;

  /**
   * @param store - where persisted nodes live (already decrypting)
   * @param capacity - decoded nodes kept in memory; ~8 KiB each on average
   */
  constructor(store: ByteStore, capacity = 20_000) {
    this.#store = store;
    this.#capacity = capacity;
  }

  /** Loads a node; synchronous when it is pending or cached. */
  load(cid: CID): TreeNode | Promise<TreeNode> {
    const key = cidText(cid);
    const pending = this.#pending.get(key);
    if (pending) return pending.value;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    return this.#fetch(cid, key);
  }

  async #fetch(cid: CID, key: string): Promise<TreeNode> {
    const bytes = await this.#store.get(nodeKey(key));
    if (bytes === undefined) {
      throw new HearthError(
        "INTEGRITY",
        `tree node ${key} is missing from ${this.#store.url}: the store is incomplete; restore it from a replica or backup`,
      );
    }
    // The CID proves the bytes are what was stored; the shape check proves
    // they are a tree node, so a crafted block can never crash a reader.
    const node = asTreeNode((await decodeBlock<unknown>(cid, bytes)).value, cid);
    this.#remember(key, node);
    return node;
  }

  #remember(key: string, node: TreeNode): void {
    if (this.#cache.size >= this.#capacity) {
      // Evict the oldest eighth: cheap, and keeps hot nodes (recently re-set) alive.
      let drop = this.#capacity >> 3;
      for (const k of this.#cache.keys()) {
        this.#cache.delete(k);
        if (--drop <= 0) break;
      }
    }
    this.#cache.set(key, node);
  }

  /** Records nodes created by a tree mutation; they stay readable until {@link takePending}. */
  addPending(blocks: Iterable<Block<TreeNode>>): void {
    for (const b of blocks) this.#pending.set(cidText(b.cid), b);
  }

  /** True if `cid` was created since the last checkpoint (so it may not be stored yet). */
  isPending(cid: CID): boolean {
    return this.#pending.has(cidText(cid));
  }

  /** The pending block for `cid`, if any. */
  pendingBlock(cid: CID): Block<TreeNode> | undefined {
    return this.#pending.get(cidText(cid));
  }

  /** Moves all pending nodes into the cache (call once they are persisted or dropped). */
  settlePending(): void {
    for (const [key, block] of this.#pending) this.#remember(key, block.value);
    this.#pending.clear();
  }
}
