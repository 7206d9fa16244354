/**
 * Reading a prolly tree: point lookups, streaming range scans, counting and
 * listing nodes. Everything loads nodes lazily through the caller's
 * {@link NodeSource} and skips the `await` when it answers synchronously,
 * so a warm lookup costs a few binary searches.
 *
 * @module
 */
import type { CID } from "../codec/block.js";
import type { EncodedCbor } from "../codec/cbor.js";
import {
  type NodeSource, type TreeNode, type ValueReader, checkNode, childAt, findKey, isPromiseLike, keyCount, keyIs, leafValue, loadNode, lowerBound, NOT_HELD, upperBound,
} from "./prolly-node.js";

/** Bounds for a range scan; at most one lower and one upper bound. */
export interface TreeRange {
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  /** Descending key order. */
  readonly reverse?: boolean;
}

async function load(source: NodeSource, tag: string, cid: CID): Promise<TreeNode> {
  const loaded = source.load(cid);
  return checkNode(isPromiseLike(loaded) ? await loaded : loaded, tag, cid);
}

/** The value stored under `key`, or `undefined`. */
export async function getValue(source: NodeSource, tag: string, root: CID, key: string): Promise<unknown> {
  return getValueNow(source, tag, root, key);
}

/**
 * {@link getValue} without a promise when every node on the path is in
 * memory (the common case for a ledger's hot trees); otherwise a promise,
 * going on from the first node that must be fetched.
 */
export function getValueNow(source: NodeSource, tag: string, root: CID, key: string): unknown {
  return lookupFrom(source, tag, root, source.load(root), key);
}

function lookupFrom(source: NodeSource, tag: string, cid: CID, loaded: TreeNode | PromiseLike<TreeNode>, key: string): unknown {
  for (;;) {
    if (isPromiseLike(loaded)) {
      const at = cid;
      return Promise.resolve(loaded).then((node) => lookupFrom(source, tag, at, node, key));
    }
    let node = checkNode(loaded, tag, cid);
    for (;;) {
      const i = findKey(node, key);
      if (i === keyCount(node)) return undefined;
      if (node.height === 0) return keyIs(node, i, key) ? leafValue(node, i) : undefined;
      if (node.height === 1 && source.valueInHeldLeaf) {
        const value = source.valueInHeldLeaf(node, i, tag, key);
        if (value !== NOT_HELD) return value;
      }
      const held = source.heldChild?.(node, i);
      if (held === undefined) {
        cid = childAt(node, i);
        loaded = source.load(cid);
        if (node.height === 1 && source.valueInHeldLeaf && isPromiseLike(loaded)) return leafFetched(source, tag, cid, loaded, node, i, key);
        break;
      }
      // The child's CID is made only to name it in the error.
      node = held.tag === tag ? held : checkNode(held, tag, childAt(node, i));
    }
  }
}

/**
 * The end of a lookup whose leaf (child `index` of `parent`) is being
 * fetched: once it is here, the value is read where the source now holds
 * it, if it does ({@link NodeSource.valueInHeldLeaf}), so what the read
 * learns of the leaf (where its values end) stays with the cached leaf.
 * Read from the fetched copy instead, it was lost, and the next lookup in
 * that leaf walked its values again: measured on a million documents, the
 * first warm pass over 2,000 cached documents spent a fifth of its time
 * there.
 */
async function leafFetched(source: NodeSource, tag: string, cid: CID, loaded: PromiseLike<TreeNode>, parent: TreeNode, index: number, key: string): Promise<unknown> {
  const leaf = await loaded;
  const value = source.valueInHeldLeaf!(parent, index, tag, key);
  return value !== NOT_HELD ? value : lookupFrom(source, tag, cid, leaf, key);
}

/**
 * How many of the tree's leaves the sorted, distinct `keys` fall into (a
 * key past the greatest counts in the last leaf): the leaves a mutation
 * with those keys would rewrite. Reads internal nodes only. Stops counting
 * past `limit` (the answer is then `limit + 1`), so a wide spread costs
 * little to tell.
 */
export async function leavesTouched(source: NodeSource, tag: string, root: CID, keys: readonly string[], limit: number): Promise<number> {
  if (keys.length === 0) return 0;
  let count = 0;
  const visit = async (cid: CID, from: number, to: number): Promise<void> => {
    const node = await load(source, tag, cid);
    if (node.height === 0) {
      count++;
      return;
    }
    // Internal keys are each child's greatest key.
    const bounds = node.keys;
    const last = bounds.length - 1;
    for (let at = from; at < to && count <= limit; ) {
      const child = Math.min(lowerBound(bounds, keys[at]!), last);
      let end = to;
      if (child < last) {
        // The first of keys[at..to) past this child's greatest key.
        let lo = at;
        let hi = to;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (keys[mid]! <= bounds[child]!) lo = mid + 1;
          else hi = mid;
        }
        end = lo;
      }
      if (node.height === 1) count++;
      else await visit(childAt(node, child), at, end);
      at = end;
    }
  };
  await visit(root, 0, keys.length);
  return Math.min(count, limit + 1);
}

/** A validated range, as the scan uses it. */
export interface Bounds {
  readonly reverse: boolean;
  /** Index of the child to enter first: the one that holds the near end of the range. */
  seekChild(keys: readonly string[]): number;
  /** Index of the first leaf key inside the near end (may be out of the leaf: nothing here). */
  seekLeaf(keys: readonly string[]): number;
  /** Whether `key` is past the far end of the range. */
  beyond(key: string): boolean;
}

/**
 * Validates `range` up front, so a malformed range throws where it is
 * written rather than at the first step of the scan.
 * @throws TypeError for non-string bounds, both gt and gte, or both lt and lte.
 */
export function rangeBounds(range: TreeRange): Bounds {
  if (typeof range !== "object" || range === null) throw new TypeError("a tree range must be an object");
  for (const name of ["gt", "gte", "lt", "lte"] as const) {
    const value = range[name];
    if (value !== undefined && typeof value !== "string") throw new TypeError(`range.${name} must be a string`);
  }
  if (range.gt !== undefined && range.gte !== undefined) throw new TypeError("a range takes gt or gte, not both");
  if (range.lt !== undefined && range.lte !== undefined) throw new TypeError("a range takes lt or lte, not both");
  const { gt, gte, lt, lte } = range;
  if (range.reverse) {
    const high = lt ?? lte;
    return {
      reverse: true,
      // Internal keys are each child's greatest key, so the child holding the
      // high bound is the first whose key reaches it (or the last child).
      seekChild: (keys) => (high === undefined ? keys.length - 1 : Math.min(lowerBound(keys, high), keys.length - 1)),
      seekLeaf: (keys) => (lt !== undefined ? lowerBound(keys, lt) : lte !== undefined ? upperBound(keys, lte) : keys.length) - 1,
      beyond: (key) => (gt !== undefined ? key <= gt : gte !== undefined && key < gte),
    };
  }
  const seek = (keys: readonly string[]): number => (gt !== undefined ? upperBound(keys, gt) : gte !== undefined ? lowerBound(keys, gte) : 0);
  return {
    reverse: false,
    seekChild: seek,
    seekLeaf: seek,
    beyond: (key) => (lt !== undefined ? key >= lt : lte !== undefined && key > lte),
  };
}

/**
 * Most children a scan asks for ahead of the one it is reading, per level.
 * About two nodes' worth at the average fan-out of 32: enough that a long
 * scan waits for storage once per parent node rather than once per node.
 */
export const SCAN_READ_AHEAD = 64;

/** One internal node on a scan's path, with the children it has asked for ahead. */
interface Frame {
  readonly node: TreeNode;
  index: number;
  /** Child index → its load, issued ahead of the scan reaching it. */
  readonly ahead: Map<number, TreeNode | PromiseLike<TreeNode>>;
}

/**
 * Entries of one leaf in a scan, in scan order: `keys[i]` and its value,
 * decoded when `value(i)` is called (a scan stopped by a limit decodes no
 * more than it uses).
 */
export interface EntryBatch {
  readonly keys: readonly string[];
  value(index: number): unknown;
  /**
   * True when {@link value} decodes a new object on each call, which the
   * caller owns (the leaf is held encoded); false when it returns the
   * leaf's own values, shared with every reader of the node, which must
   * not be changed or handed out.
   */
  readonly fresh: boolean;
  /**
   * Value `index` as its bytes, not decoded, when the leaf keeps its values
   * encoded: what a merge that only copies values into another tree takes
   * (the encoder splices the bytes in; decoding and encoding them again was
   * a tenth of a random-id load's time).
   */
  readonly encodedValue?: (index: number) => EncodedCbor;
  /**
   * Value `index` as `reader` reads it from the leaf's bytes, or
   * `undefined` if it declines (then use {@link value}), when the leaf
   * keeps its values encoded: for a read that needs only part of each
   * value (`allDocs` takes a register's document and nothing else).
   */
  readonly valueVia?: <T>(index: number, reader: ValueReader<T>) => T | undefined;
}

/**
 * Streams the entries in `range`, in key order (or reversed), one leaf's
 * worth at a time (see {@link EntryBatch}). Holds one path of nodes, so
 * memory stays O(height) however long the scan, plus the children it
 * reads ahead.
 *
 * Why batches: an async generator costs a few microtask hops per item, and
 * `allDocs` stacked three of them per document (the tree scan, the overlay
 * merge, the rows), a sixth of reading a million documents. A batch costs
 * them once per leaf.
 *
 * Reading ahead: a node's children are independent, so when the scan
 * moves to a child it also asks the source for the next few siblings in
 * scan order, without waiting. A source that fetches (an IndexedDB store
 * answers gets issued together in one transaction) then serves a full
 * scan in a few round trips per parent node instead of one per node,
 * which is what a cold read of a whole ledger is made of. The window
 * starts at two and doubles with each child the scan enters at that level
 * (up to {@link SCAN_READ_AHEAD}), so a scan stopped early by a limit or a
 * range bound asks for little it does not use, and a scan never reads a
 * child beyond the range's far bound.
 */
export async function* scanBatches(source: NodeSource, tag: string, root: CID, bounds: Bounds): AsyncGenerator<EntryBatch> {
  const step = bounds.reverse ? -1 : 1;
  const path: Frame[] = [];
  /** Read-ahead window per height, grown as the scan goes on. */
  const windows: number[] = [];
  const enter = async (frame: Frame): Promise<TreeNode> => {
    const { node, index, ahead } = frame;
    const height = node.height;
    const window = (windows[height] = Math.min((windows[height] ?? 1) * 2, SCAN_READ_AHEAD));
    for (let i = index + step, n = 0; n < window && i >= 0 && i < node.keys.length; i += step, n++) {
      if (ahead.has(i)) continue;
      // Child i holds the keys after keys[i - 1] up to keys[i]: past the far bound once the key before it is.
      const nearKey = bounds.reverse ? node.keys[i] : node.keys[i - 1];
      if (nearKey !== undefined && bounds.beyond(nearKey)) break;
      const early = source.load(childAt(node, i), true);
      // A scan may stop before it gets there; its failure is reported if and when it does.
      if (isPromiseLike(early)) early.then(undefined, () => undefined);
      ahead.set(i, early);
    }
    const child = childAt(node, index);
    const loaded = ahead.get(index) ?? source.load(child, true);
    ahead.delete(index);
    return checkNode(isPromiseLike(loaded) ? await loaded : loaded, tag, child);
  };
  let node = await load(source, tag, root);
  // Descend along the near end of the range to its first leaf position.
  while (node.height > 0) {
    const index = bounds.seekChild(node.keys);
    if (index >= node.keys.length) return; // every key is below the range
    const frame: Frame = { node, index, ahead: new Map() };
    path.push(frame);
    node = await enter(frame);
  }
  // A leaf that keeps its keys encoded builds them on each read of `keys`: read them once per leaf.
  let keys = node.keys;
  let index = bounds.seekLeaf(keys);
  for (;;) {
    const batchKeys: string[] = [];
    const at: number[] = [];
    let ended = false;
    for (; index >= 0 && index < keys.length; index += step) {
      const key = keys[index]!;
      if (bounds.beyond(key)) {
        ended = true;
        break;
      }
      batchKeys.push(key);
      at.push(index);
    }
    if (batchKeys.length > 0) {
      const leaf = node;
      const encoded = leaf.encodedValueAt !== undefined ? (i: number) => leaf.encodedValueAt!(at[i]!) : undefined;
      const via = leaf.valueVia !== undefined ? <T>(i: number, reader: ValueReader<T>) => leaf.valueVia!(at[i]!, reader) : undefined;
      yield {
        keys: batchKeys,
        value: (i) => leafValue(leaf, at[i]!),
        fresh: leaf.valueAt !== undefined,
        ...(encoded && { encodedValue: encoded }),
        ...(via && { valueVia: via }),
      };
    }
    if (ended) return;
    // Leaf exhausted: climb to the nearest ancestor with a next child, then go down its near edge.
    let frame = path.pop();
    while (frame !== undefined && (frame.index + step < 0 || frame.index + step >= frame.node.keys.length)) frame = path.pop();
    if (frame === undefined) return;
    frame.index += step;
    path.push(frame);
    node = await enter(frame);
    while (node.height > 0) {
      const down: Frame = { node, index: bounds.reverse ? node.keys.length - 1 : 0, ahead: new Map() };
      path.push(down);
      node = await enter(down);
    }
    keys = node.keys;
    index = bounds.reverse ? keys.length - 1 : 0;
  }
}

/** {@link scanBatches} one entry at a time. */
export async function* scanEntries(source: NodeSource, tag: string, root: CID, bounds: Bounds): AsyncGenerator<[string, unknown]> {
  for await (const batch of scanBatches(source, tag, root, bounds)) {
    for (let i = 0; i < batch.keys.length; i++) yield [batch.keys[i]!, batch.value(i)];
  }
}

/** Number of entries, by visiting every leaf. */
export async function countEntries(source: NodeSource, tag: string, root: CID): Promise<number> {
  const node = await loadNode(source, tag, root);
  if (node.height === 0) return keyCount(node);
  let total = 0;
  for (const child of node.children!) total += await countEntries(source, tag, child);
  return total;
}

/** Every node CID reachable from `root`, parents before children; leaves are listed without being loaded. */
export async function* listNodes(source: NodeSource, tag: string, root: CID): AsyncGenerator<CID> {
  yield root;
  const node = await loadNode(source, tag, root);
  if (node.height === 0) return;
  for (const child of node.children!) {
    if (node.height === 1) yield child;
    else yield* listNodes(source, tag, child);
  }
}
