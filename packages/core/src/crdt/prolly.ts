/**
 * A content-addressed, history-independent search tree (a prolly tree):
 * the ledger's materialized state and its secondary indexes.
 *
 * Its shape and every node's bytes depend only on the set of entries and
 * the tree's tag, so two replicas holding equal state hold an equal root
 * CID and can compare states by one hash. Node boundaries are chosen by a
 * hash of each key ({@link boundaryLevel}), never by values, order of
 * arrival or batch sizes; updates rewrite O(log n) nodes per changed key.
 *
 * The tree never stores anything: it reads nodes through a caller-supplied
 * {@link NodeSource} and hands back the blocks it creates, which the caller
 * persists (and should make loadable through the source) before reading
 * the new tree.
 *
 * @example
 * ```ts
 * const blocks = new Map<string, TreeNode>();
 * const source = { load: (cid: CID) => blocks.get(cid.toString())! };
 * const keep = (created: Block<TreeNode>[]) => { for (const b of created) blocks.set(b.cid.toString(), b.value) };
 * let { tree, created } = await ProllyTree.build("docs", [["a", 1], ["b", 2]], source);
 * keep(created);
 * ({ tree, created } = await tree.mutate([["a", undefined], ["c", 3]]));
 * keep(created);
 * await tree.get("c"); // 3
 * for await (const [key, value] of tree.entries({ gte: "b" })) console.log(key, value);
 * ```
 *
 * @module
 */
import type { Block, CID } from "../codec/block.js";
import { buildTree } from "./prolly-build.js";
import { type TreeChange, mutateTree } from "./prolly-mutate.js";
import { fanoutBitsOf, type NodeSource, type TreeNode } from "./prolly-node.js";
import { type EntryBatch, type TreeRange, countEntries, getValue, getValueNow, leavesTouched, listNodes, rangeBounds, scanBatches, scanEntries } from "./prolly-read.js";

export type { NodeSource, TreeNode } from "./prolly-node.js";
export { asTreeNode, boundaryLevel, childCids, fanoutBitsOf, withFanout } from "./prolly-node.js";
export type { TreeChange } from "./prolly-mutate.js";
export type { EntryBatch, TreeRange } from "./prolly-read.js";

/** A tree value plus the nodes that producing it created (to be persisted by the caller). */
export interface TreeUpdate {
  readonly tree: ProllyTree;
  readonly created: Block<TreeNode>[];
}

/**
 * An immutable handle on one version of a tree: `mutate` returns a new
 * handle and leaves this one readable, which is what lets readers keep a
 * consistent snapshot while a commit is assembled.
 */
export class ProllyTree {
  private constructor(
    /** Names the tree; part of every node, so trees never share nodes. */
    readonly tag: string,
    /** The root node's CID: equal entry sets (and tags) give equal roots. */
    readonly root: CID,
    private readonly source: NodeSource,
  ) {}

  /** A tree with no entries (a single empty leaf). */
  static async empty(tag: string, source: NodeSource): Promise<TreeUpdate> {
    return ProllyTree.build(tag, [], source);
  }

  /** A handle on an existing tree; nothing is read until it is used. */
  static open(tag: string, root: CID, source: NodeSource): ProllyTree {
    checkTag(tag);
    return new ProllyTree(tag, root, source);
  }

  /**
   * Writes a tree of exactly these entries in one pass (O(n)), cheaper
   * than inserting them one batch at a time. Values must be dag-cbor encodable.
   * @throws TypeError if keys are not strictly ascending strings or a value is `undefined`.
   */
  static async build(tag: string, sortedEntries: Iterable<readonly [string, unknown]>, source: NodeSource): Promise<TreeUpdate> {
    checkTag(tag);
    const { root, created } = await buildTree(tag, sortedEntries, source);
    return { tree: new ProllyTree(tag, root, source), created };
  }

  /** The value stored under `key`, or `undefined` if there is none. */
  async get(key: string): Promise<unknown> {
    if (typeof key !== "string") throw new TypeError(`tree keys must be strings, got ${typeof key}`);
    return getValue(this.source, this.tag, this.root, key);
  }

  /**
   * {@link get} for hot paths: the value itself when every node on the path
   * is in memory, else a promise of it (test with `isPromiseLike`). Saves a
   * promise and a microtask turn per lookup; the ledger makes one or two
   * per written document.
   */
  lookup(key: string): unknown {
    if (typeof key !== "string") throw new TypeError(`tree keys must be strings, got ${typeof key}`);
    return getValueNow(this.source, this.tag, this.root, key);
  }

  /**
   * Streams entries in key order (descending with `reverse`), loading nodes
   * only as the scan reaches them: O(log n + k) for k results.
   * @throws TypeError for a malformed range (non-string bounds, both gt and gte, both lt and lte).
   */
  entries(range: TreeRange = {}): AsyncIterable<[string, unknown]> {
    return scanEntries(this.source, this.tag, this.root, rangeBounds(range));
  }

  /** {@link entries} a leaf at a time: cheaper per entry for long scans. */
  batches(range: TreeRange = {}): AsyncIterable<EntryBatch> {
    return scanBatches(this.source, this.tag, this.root, rangeBounds(range));
  }

  /**
   * How many leaves a {@link mutate} with the sorted, distinct `keys` would
   * rewrite, counted up to `limit` (past it: `limit + 1`). Reads internal
   * nodes only.
   */
  leavesTouched(keys: readonly string[], limit: number): Promise<number> {
    return leavesTouched(this.source, this.tag, this.root, keys, limit);
  }

  /**
   * Applies a batch: `[key, value]` sets, `[key, undefined]` deletes
   * (deleting a missing key does nothing). Rewrites O(k log n) nodes.
   * `created` lists the new tree's nodes that this tree lacks.
   * @throws TypeError unless `changes` is sorted by key, with unique string keys.
   */
  async mutate(changes: ReadonlyArray<TreeChange>): Promise<TreeUpdate> {
    const { root, created } = await mutateTree(this.tag, this.root, changes, this.source);
    return { tree: root.equals(this.root) ? this : new ProllyTree(this.tag, root, this.source), created };
  }

  /** Every node CID reachable from the root, for mark-and-sweep garbage collection. */
  nodes(): AsyncIterable<CID> {
    return listNodes(this.source, this.tag, this.root);
  }

  /** Number of entries (visits every leaf). */
  async count(): Promise<number> {
    return countEntries(this.source, this.tag, this.root);
  }
}

function checkTag(tag: string): void {
  if (typeof tag !== "string" || tag.length === 0) throw new TypeError("a tree needs a non-empty string tag");
  fanoutBitsOf(tag);
}
