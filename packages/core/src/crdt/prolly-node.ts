/**
 * The prolly tree's node shape, its boundary rule and node loading.
 *
 * The boundary rule is what makes the tree history independent: whether a
 * key closes a node depends only on a hash of the key itself, never on the
 * neighbours, the values, or the order in which keys arrived. Levels nest
 * (a key that closes a node at height h closes one at every lower height
 * too), as in a Merkle search tree, so the whole shape of the tree is a
 * function of the key set alone.
 *
 * @module
 */
import { CID } from "../codec/block.js";
import type { EncodedCbor } from "../codec/cbor.js";
import { HearthError } from "../errors.js";

/**
 * One node of a prolly tree, exactly as stored (dag-cbor).
 *
 * Leaves (`height` 0) hold `values[i]` for `keys[i]`. Internal nodes hold
 * `children[i]`, whose greatest key is `keys[i]`: storing each child's
 * *last* key lets a reader route a lookup with one binary search and lets a
 * writer see each child's boundary key without loading the child.
 * `tag` names the tree, so nodes of different trees never share a CID and a
 * per-tree garbage collector can never free a node another tree still uses.
 */
export interface TreeNode {
  readonly tag: string;
  readonly height: number;
  readonly keys: readonly string[];
  /** Present on leaves only. */
  readonly values?: readonly unknown[];
  /** Present on internal nodes only. */
  readonly children?: readonly CID[];
  /**
   * Leaves that keep their keys and values encoded ({@link ./prolly-leaf})
   * build `keys` and `values` anew on each read, and answer these instead;
   * read nodes through {@link keyCount}, {@link keyAt}, {@link findKey},
   * {@link keyIs} and {@link leafValue}.
   */
  readonly keyCount?: number;
  keyAt?(index: number): string;
  lowerBound?(key: string): number;
  keyIs?(index: number, key: string): boolean;
  valueAt?(index: number): unknown;
  /** Value `index` as its dag-cbor bytes, without decoding it (leaves that keep their values encoded). */
  encodedValueAt?(index: number): EncodedCbor;
  /** Value `index` as `reader` reads it from the leaf's bytes, `undefined` if it declines (leaves that keep their values encoded). */
  valueVia?<T>(index: number, reader: ValueReader<T>): T | undefined;
  /**
   * Internal nodes that keep their children encoded ({@link ./prolly-branch})
   * build `children` anew on each read and answer this instead; read
   * through {@link childAt}.
   */
  childAt?(index: number): CID;
  /** Child `index`'s CID as text (what {@link childAt} gives, as `cidText` writes it), for nodes that keep it without the CID. */
  childTextAt?(index: number): string;
}

/**
 * Reads a value from `bytes` at `offset` (see `EncodedLeaf.valueVia`):
 * what it makes of it and where the value ends, or `undefined` to decline.
 */
export type ValueReader<T> = (bytes: Uint8Array, offset: number) => { readonly value: T; readonly end: number } | undefined;

/** Value `index` of leaf `node`, whether it holds its values decoded or encoded. */
export function leafValue(node: TreeNode, index: number): unknown {
  return node.valueAt ? node.valueAt(index) : node.values![index];
}

/** How many keys `node` holds. */
export function keyCount(node: TreeNode): number {
  return node.keyCount ?? node.keys.length;
}

/** Key `index` of `node`. */
export function keyAt(node: TreeNode, index: number): string {
  return node.keyAt ? node.keyAt(index) : node.keys[index]!;
}

/** {@link lowerBound} over `node`'s keys, without decoding them where the node keeps them encoded. */
export function findKey(node: TreeNode, key: string): number {
  return node.lowerBound ? node.lowerBound(key) : lowerBound(node.keys, key);
}

/** Child `index` of internal node `node`. */
export function childAt(node: TreeNode, index: number): CID {
  return node.childAt ? node.childAt(index) : node.children![index]!;
}

/** True if key `index` of `node` is `key`. */
export function keyIs(node: TreeNode, index: number, key: string): boolean {
  return node.keyIs ? node.keyIs(index, key) : node.keys[index] === key;
}

/**
 * Where the tree reads its nodes from. Supplied by the caller (a cache,
 * the blocks of a commit being assembled, the block store), because the
 * tree itself never stores anything. It may answer synchronously, which
 * keeps warm lookups free of extra promise hops. Returned nodes are treated
 * as read-only and may be shared with the caller's cache.
 */
export interface NodeSource {
  /**
   * `scan`: the node is read by a range scan, which reads each node once
   * in order; a cache should not evict nodes it holds to make room for it.
   */
  load(cid: CID, scan?: boolean): TreeNode | Promise<TreeNode>;
  /**
   * Child `index` of `node` if it is in memory now, found without making
   * its CID; `undefined` otherwise (the caller then makes the CID and
   * {@link load}s it). What lets a warm lookup make no CID per level.
   */
  heldChild?(node: TreeNode, index: number): TreeNode | undefined;
  /**
   * The value under `key` in child `index` of `node`, a leaf of tree `tag`,
   * read now where the source holds it, if it holds it so that handing
   * the leaf out would cost a copy ({@link ../ledger/leaf-arena}):
   * `undefined` if the leaf has no such key, {@link NOT_HELD} if the source
   * does not hold the leaf that way (the caller then reads it as usual).
   */
  valueInHeldLeaf?(node: TreeNode, index: number, tag: string, key: string): unknown;
}

/** What {@link NodeSource.valueInHeldLeaf} answers for a leaf it does not hold. */
export const NOT_HELD: unique symbol = Symbol("not held");

/** The CIDs a node points to (none for a leaf): what a garbage collector or a delta walk descends into. */
export function childCids(node: TreeNode): readonly CID[] {
  return node.children ?? [];
}

/** log2 of the default average fan-out (32): a key closes a node at height h with probability 32^-(h+1). */
const DEFAULT_FANOUT_BITS = 5;
/** A tag ending in this, then a power of two, asks for that fan-out ({@link fanoutBitsOf}). */
const FANOUT_MARK = "@fanout=";
const MIN_FANOUT_BITS = 2;
const MAX_FANOUT_BITS = 10;
const fanoutByTag = new Map<string, number>();

/**
 * The average fan-out a tree's tag asks for, as its log2: a tag ending in
 * `@fanout=N`, N a power of two from 4 to 1024, asks for N; any other tag
 * for 32.
 *
 * Why in the tag: the tag is written into every node, and a tree's shape
 * must depend only on its entries and its tag (that is what makes equal
 * states give equal roots), so whatever sets the shape belongs in it. A
 * tree's fan-out is fixed when it is made: changing it for an existing tree
 * would move its boundaries, and a mutation assumes the old ones.
 *
 * Why trees differ: fan-out counts entries, not bytes. The document state
 * takes 64 (~150-byte entries, ~10 KB leaves: bigger ones cache too coarsely
 * for random reads); an index or change-feed entry is ~30 bytes, and at 32
 * per leaf those trees were mostly per-node overhead: they take 128 (see
 * `STATE_TAG` and `LOCAL_TAG` in `ledger/state.ts`).
 * @throws TypeError for a tag with a fan-out mark that is not one of those
 */
export function fanoutBitsOf(tag: string): number {
  const known = fanoutByTag.get(tag);
  if (known !== undefined) return known;
  const mark = tag.lastIndexOf(FANOUT_MARK);
  let bits = DEFAULT_FANOUT_BITS;
  if (mark >= 0) {
    const text = tag.slice(mark + FANOUT_MARK.length);
    const fanout = /^[1-9][0-9]{0,3}$/.test(text) ? Number(text) : NaN;
    bits = Math.log2(fanout);
    if (!Number.isInteger(bits) || bits < MIN_FANOUT_BITS || bits > MAX_FANOUT_BITS) {
      throw new TypeError(`tree tag ${JSON.stringify(tag)} asks for fan-out ${JSON.stringify(text)}; use a power of two from 4 to 1024`);
    }
  }
  fanoutByTag.set(tag, bits);
  return bits;
}

/** `tag` asking for an average fan-out of `fanout` (a power of two from 4 to 1024); see {@link fanoutBitsOf}. */
export function withFanout(tag: string, fanout: number): string {
  const tagged = `${tag}${FANOUT_MARK}${fanout}`;
  fanoutBitsOf(tagged);
  return tagged;
}

/**
 * How many levels `key` is a boundary at: 0 means it never closes a node;
 * `n` means it is the last key of its node at heights 0 … n-1. Counts the
 * leading zero bits of {@link keyHash} in groups of `fanoutBits` (the
 * log2 of the tree's fan-out, {@link fanoutBitsOf}), so level ≥ h+1
 * implies level ≥ h: the nesting that keeps the shape independent of
 * history.
 */
export function boundaryLevel(key: string, fanoutBits = DEFAULT_FANOUT_BITS): number {
  return Math.floor(Math.clz32(keyHash(key)) / fanoutBits);
}

/**
 * MurmurHash3 (x86, 32-bit, seed 0) over the key's UTF-16 code units, two
 * per 32-bit block, little end first. Part of the storage format: changing
 * it changes every root.
 *
 * Why not sha-256: boundaries only need well-mixed bits, not collision
 * resistance (an adversary can find keys of any level by brute force under
 * either, since a level-1 key is 1 in 32). sha-256 costs ~2 µs per short
 * key in pure JS, which alone would be a third of a 10,000-entry build and
 * dominate bulk writes; this costs well under 0.1 µs and needs no text
 * encoding, as keys are already compared by code unit.
 */
export function keyHash(key: string): number {
  let h = 0;
  const units = key.length;
  let i = 0;
  for (; i + 1 < units; i += 2) {
    h ^= mixBlock(key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < units) h ^= mixBlock(key.charCodeAt(i));
  h ^= units * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixBlock(block: number): number {
  let k = Math.imul(block, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** Index of the first key `>= key` (or `keys.length`): the child or slot that holds or would hold `key`. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first key `> key` (or `keys.length`). */
export function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True for anything with a `then` method: lets readers skip an `await` when the source answers synchronously. */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * Loads a node and checks it belongs to tree `tag` and sits at `height`
 * (when known), so a wrong or foreign root is reported instead of read as data.
 * @throws HearthError `INTEGRITY` if the node is not a node of this tree at that height.
 */
export async function loadNode(source: NodeSource, tag: string, cid: CID, height?: number): Promise<TreeNode> {
  const loaded = source.load(cid);
  const node = isPromiseLike(loaded) ? await loaded : loaded;
  return checkNode(node, tag, cid, height);
}

/** The synchronous half of {@link loadNode}, for readers that already hold the node. */
export function checkNode(node: TreeNode, tag: string, cid: CID, height?: number): TreeNode {
  if (node.tag !== tag || (height !== undefined && node.height !== height)) {
    throw new HearthError(
      "INTEGRITY",
      `tree node ${cid} belongs to tree ${JSON.stringify(node.tag)} at height ${node.height}, not to ${JSON.stringify(tag)}` +
        (height === undefined ? "" : ` at height ${height}`) +
        `; the ledger's root or index pointer is wrong: restore the store from a replica or backup`,
    );
  }
  return node;
}

/**
 * Validates a decoded block as a tree node. Callers that decode nodes from
 * storage run this once before caching, so the tree's readers can trust
 * the shape (sorted string keys, parallel arrays, CIDs).
 * @throws HearthError `INTEGRITY` if `value` is not a well-formed node.
 */
export function asTreeNode(value: unknown, cid: CID): TreeNode {
  const fail = (why: string): never => {
    throw new HearthError("INTEGRITY", `block ${cid} is not a tree node (${why}); restore the store from a replica or backup`);
  };
  if (typeof value !== "object" || value === null) return fail("not a map");
  const node = value as Record<string, unknown>;
  if (typeof node.tag !== "string") fail("tag is not a string");
  const height = node.height;
  if (typeof height !== "number" || !Number.isInteger(height) || height < 0) return fail("bad height");
  const keys = node.keys;
  if (!Array.isArray(keys)) return fail("keys is not a list");
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string") fail("a key is not a string");
    if (i > 0 && !(keys[i - 1] < keys[i])) fail("keys are not strictly ascending");
  }
  if (height === 0) {
    if (!Array.isArray(node.values) || node.values.length !== keys.length || "children" in node) fail("bad leaf values");
  } else {
    const children = node.children;
    if (!Array.isArray(children) || children.length !== keys.length || keys.length === 0 || "values" in node) {
      fail("bad children");
    }
    for (const child of children as unknown[]) if (CID.asCID(child) === null) fail("a child is not a CID");
  }
  return node as unknown as TreeNode;
}
