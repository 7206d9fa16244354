/**
 * The streaming tree writer shared by `build` and `mutate`.
 *
 * Entries (and, for `mutate`, whole untouched old subtrees) are fed in key
 * order. One pending node per height collects items; a node is closed when
 * its last item's key is a boundary at that height. Closing is *lazy*: a
 * complete node is only written once something follows it, because the
 * last node of a level is special (it may become the root, or the root's
 * only child, which must not be stored). That keeps every written node a
 * node of the final tree, so `created` is exact.
 *
 * @module
 */
import { type Block, type CID, encodeBlockNow } from "../codec/block.js";
import { type NodeSource, type TreeNode, boundaryLevel, fanoutBitsOf, isPromiseLike, loadNode } from "./prolly-node.js";
import { cidText } from "../codec/cid-text.js";
import { EncodedCbor } from "../codec/cbor.js";
import { compactNode } from "./prolly-leaf.js";

/** The node being filled at one height. */
interface PendingNode {
  keys: string[];
  /** Values (height 0) or child CIDs (above). */
  payloads: unknown[];
  /** {@link boundaryLevel} of the last key pushed; the node is complete once it exceeds the height. */
  endLevel: number;
}

/**
 * Builds a tree bottom-up from a key-ordered stream. Feed with
 * {@link TreeWriter.addEntry} and {@link TreeWriter.addSubtree}, then call
 * {@link TreeWriter.finish} once.
 */
export class TreeWriter {
  /** `pending[h]` exists once anything was pushed at height h (lower heights may be holes: reused subtrees skip them); its length tells how high the tree reaches. */
  private readonly pending: PendingNode[] = [];
  private readonly written = new Map<string, Block<TreeNode>>();
  /**
   * Boundary level of the last key fed (∞ before the first). An old
   * subtree of height g can be reused verbatim only right after a key of
   * level > g, because only then does the new tree also start a height-g
   * node there.
   */
  lastLevel = Number.POSITIVE_INFINITY;
  /** log2 of the tree's fan-out ({@link fanoutBitsOf}). */
  readonly fanoutBits: number;

  /**
   * @param tag - the tree's tag, written into every node
   * @param source - used only to look through single-child roots at the end
   * @param existing - CIDs the caller already has (the old tree's nodes it
   *   rewrote); a rebuilt node that hashes to one of them is not reported as created
   */
  constructor(
    private readonly tag: string,
    private readonly source: NodeSource,
    private readonly existing: ReadonlySet<string> = new Set(),
  ) {
    this.fanoutBits = fanoutBitsOf(tag);
  }

  /**
   * Feeds one entry; `level` is its key's {@link boundaryLevel} (callers
   * that know it save a hash). Returns a promise only when it had to wait
   * (an asynchronous hash): callers feeding thousands of entries await only then.
   */
  addEntry(key: string, value: unknown, level = boundaryLevel(key, this.fanoutBits)): void | Promise<void> {
    this.lastLevel = level;
    return this.push(0, key, value, level);
  }

  /**
   * Feeds an existing node of `height` whose greatest key is `lastKey`, as
   * a unit. Only valid when {@link canReuse}(height) and the node's content is unchanged.
   */
  async addSubtree(height: number, lastKey: string, cid: CID, level: number): Promise<void> {
    // The key fed last closes every pending node up to `height`; write them now, since more follows.
    for (let h = 0; h <= height && h < this.pending.length; h++) {
      if ((this.pending[h]?.keys.length ?? 0) > 0) await this.close(h);
    }
    await this.push(height + 1, lastKey, cid, level);
    this.lastLevel = level;
  }

  /**
   * Hands over the nodes written so far and forgets them, so a long build
   * can store them as it goes instead of holding the whole tree: every
   * node written is a node of the final tree (see the module docs). The
   * nodes handed over are not in {@link finish}'s `created`, and `source`
   * must be able to load them once stored (`finish` may look through a
   * chain of single-child nodes).
   */
  takeWritten(): Block<TreeNode>[] {
    const blocks = [...this.written.values()].filter((block) => !this.existing.has(cidText(block.cid)));
    this.written.clear();
    return blocks;
  }

  /** Whether an unchanged old subtree of `height` can be fed whole at this point of the stream. */
  canReuse(height: number): boolean {
    return this.lastLevel > height;
  }

  /**
   * Closes the remaining nodes and returns the root and every node written
   * (minus those in `existing`). The root is the lowest level holding a
   * single node; an empty stream gives the empty leaf.
   */
  async finish(): Promise<{ root: CID; created: Block<TreeNode>[] }> {
    let root: CID | undefined;
    for (let h = 0; root === undefined; h++) {
      const node = this.pending[h];
      const isTop = this.pending.length <= h + 1;
      if (!isTop) {
        if (node !== undefined && node.keys.length > 0) await this.close(h);
      } else if (node === undefined || node.keys.length === 0) {
        root = (await this.write(0, [], [])).cid; // nothing at all: the empty leaf
      } else if (h > 0 && node.keys.length === 1) {
        root = await this.skipSingleChildren(node.payloads[0] as CID, h - 1);
      } else {
        root = (await this.write(h, node.keys, node.payloads)).cid;
      }
    }
    const created = [...this.written.values()].filter((block) => !this.existing.has(cidText(block.cid)));
    return { root, created };
  }

  // push, close and write return a promise only when hashing was asynchronous.
  private push(height: number, key: string, payload: unknown, level: number): void | Promise<void> {
    let node = this.pending[height];
    if (node === undefined) {
      node = { keys: [], payloads: [], endLevel: 0 };
      this.pending[height] = node;
    } else if (node.keys.length > 0 && node.endLevel > height) {
      const closing = this.close(height);
      if (closing) return closing.then(() => appendTo(node!, key, payload, level));
    }
    appendTo(node, key, payload, level);
  }

  /** Writes the pending node at `height` and hands it to its parent level. */
  private close(height: number): void | Promise<void> {
    const node = this.pending[height]!;
    const { keys, payloads, endLevel } = node;
    node.keys = [];
    node.payloads = [];
    const block = this.write(height, keys, payloads);
    if (isPromiseLike(block)) return block.then((b) => this.push(height + 1, keys[keys.length - 1]!, b.cid, endLevel));
    return this.push(height + 1, keys[keys.length - 1]!, block.cid, endLevel);
  }

  private write(height: number, keys: string[], payloads: unknown[]): Block<TreeNode> | Promise<Block<TreeNode>> {
    const node: TreeNode =
      height === 0 ? { tag: this.tag, height, keys, values: payloads } : { tag: this.tag, height, keys, children: payloads as CID[] };
    const block = encodeBlockNow(node);
    if (isPromiseLike(block)) return block.then((b) => this.remember(b));
    return this.remember(block);
  }

  private remember(block: Block<TreeNode>): Block<TreeNode> {
    // A leaf holding values copied as their bytes (EncodedCbor) is handed on
    // in its encoded form, so that its values read as values.
    const value = block.value;
    const kept = value.height === 0 && value.values!.some((v) => v instanceof EncodedCbor) ? { ...block, value: compactNode(value, block.bytes) } : block;
    this.written.set(cidText(kept.cid), kept);
    return kept;
  }

  /**
   * A node with one child is never a root (its child covers the same keys),
   * so look through such chains. Only reused old nodes can form them: a
   * node written here always has a sibling.
   */
  private async skipSingleChildren(cid: CID, height: number): Promise<CID> {
    while (height > 0) {
      const node = this.written.get(cidText(cid))?.value ?? (await loadNode(this.source, this.tag, cid, height));
      if (node.children?.length !== 1) break;
      cid = node.children[0]!;
      height--;
    }
    return cid;
  }
}

function appendTo(node: PendingNode, key: string, payload: unknown, level: number): void {
  node.keys.push(key);
  node.payloads.push(payload);
  node.endLevel = level;
}

/**
 * Writes a tree holding exactly `sortedEntries`.
 * @throws TypeError if keys are not strings in strictly ascending order or a value is `undefined`.
 */
export async function buildTree(
  tag: string,
  sortedEntries: Iterable<readonly [string, unknown]>,
  source: NodeSource,
): Promise<{ root: CID; created: Block<TreeNode>[] }> {
  const writer = new TreeWriter(tag, source);
  let previous: string | undefined;
  for (const entry of sortedEntries) {
    const [key, value] = entry;
    if (typeof key !== "string") throw new TypeError(`tree keys must be strings, got ${typeof key}`);
    if (previous !== undefined && !(previous < key)) {
      throw new TypeError(`tree entries must be sorted by key with no duplicates: ${JSON.stringify(key)} follows ${JSON.stringify(previous)}`);
    }
    if (value === undefined) throw new TypeError(`the value for key ${JSON.stringify(key)} is undefined; trees cannot store undefined`);
    previous = key;
    // Awaited only when hashing was asynchronous: an await per entry cost a
    // microtask each (a close's run of 26,000 documents and their 52,000
    // local entries spent a quarter of its ~130 ms there).
    const adding = writer.addEntry(key, value);
    if (adding) await adding;
  }
  return writer.finish();
}
