/**
 * Applying a sorted batch of changes to a prolly tree.
 *
 * The new tree is streamed through the same {@link TreeWriter} that builds
 * trees from scratch, so it is canonical by construction: equal entry sets
 * give equal bytes, whatever the history. What makes it cheap is that the
 * walk over the old tree feeds every untouched subtree as one item instead
 * of its entries, which is sound exactly when the subtree holds no change
 * and the stream has just passed a boundary of the subtree's height
 * ({@link TreeWriter.canReuse}). After a change the stream re-synchronises
 * at the next old boundary key, so a batch of k changes rewrites
 * O(k · height) nodes and reads O(height · fan-out) items per change.
 *
 * @module
 */
import type { Block, CID } from "../codec/block.js";
import { TreeWriter } from "./prolly-build.js";
import { type NodeSource, type TreeNode, boundaryLevel, loadNode } from "./prolly-node.js";
import { EncodedLeaf } from "./prolly-leaf.js";
import { cidText } from "../codec/cid-text.js";

/** A change: a new value for `key`, or `undefined` to delete it. */
export type TreeChange = readonly [key: string, value: unknown];

/**
 * Returns the root of the tree `root` with `changes` applied, and the
 * nodes of that tree the old one did not have.
 * @throws TypeError if `changes` is not sorted by key with unique string keys.
 */
export async function mutateTree(
  tag: string,
  root: CID,
  changes: ReadonlyArray<TreeChange>,
  source: NodeSource,
): Promise<{ root: CID; created: Block<TreeNode>[] }> {
  checkChanges(changes);
  if (changes.length === 0) return { root, created: [] };
  const rewritten = new Set<string>();
  const writer = new TreeWriter(tag, source, rewritten);
  const walk = new MutationWalk(tag, source, changes, writer, rewritten);
  const rootNode = await loadNode(source, tag, root);
  await walk.visit(root, rootNode, 0, changes.length, true);
  return writer.finish();
}

function checkChanges(changes: ReadonlyArray<TreeChange>): void {
  if (!Array.isArray(changes)) throw new TypeError("tree changes must be an array of [key, value] pairs");
  let previous: string | undefined;
  for (const change of changes) {
    const key = (change as readonly unknown[] | undefined)?.[0];
    if (typeof key !== "string") throw new TypeError(`tree change keys must be strings, got ${typeof key}`);
    if (previous !== undefined && !(previous < key)) {
      throw new TypeError(`tree changes must be sorted by key with no duplicates: ${JSON.stringify(key)} follows ${JSON.stringify(previous)}`);
    }
    previous = key;
  }
}

/** One in-order walk of the old tree, routing `changes` down and streaming the result into `writer`. */
class MutationWalk {
  constructor(
    private readonly tag: string,
    private readonly source: NodeSource,
    private readonly changes: ReadonlyArray<TreeChange>,
    private readonly writer: TreeWriter,
    private readonly rewritten: Set<string>,
  ) {}

  /**
   * Streams node `cid` with `changes[from, to)` applied. `rightmost` says
   * the node ends the tree, so it also receives changes past its last key.
   */
  async visit(cid: CID, node: TreeNode, from: number, to: number, rightmost: boolean): Promise<void> {
    this.rewritten.add(cidText(cid));
    if (node.height === 0) return this.mergeLeaf(node, from, to);
    const { keys, children, height } = node;
    const childHeight = height - 1;
    let next = from;
    for (let i = 0; i < keys.length; i++) {
      const lastKey = keys[i]!;
      const isLast = i === keys.length - 1;
      let end = next;
      if (isLast && rightmost) end = to;
      else while (end < to && this.changes[end]![0] <= lastKey) end++;
      const child = children![i]!;
      if (end === next && this.writer.canReuse(childHeight)) {
        // Every child but the last ends on a key of level exactly `height`: it closes
        // its own node (height-1) and not this one. That spares a hash per child.
        await this.writer.addSubtree(childHeight, lastKey, child, isLast ? boundaryLevel(lastKey, this.writer.fanoutBits) : height);
      } else {
        const childNode = await loadNode(this.source, this.tag, child, childHeight);
        await this.visit(child, childNode, next, end, rightmost && isLast);
      }
      next = end;
    }
  }

  /** Merges a leaf's entries with its changes, in key order, into the writer. */
  private async mergeLeaf(leaf: TreeNode, from: number, to: number): Promise<void> {
    const { keys, writer, changes } = { keys: leaf.keys, writer: this.writer, changes: this.changes };
    // An encoded leaf's values go into the new leaf as their bytes, not decoded and encoded again.
    const encoded = leaf instanceof EncodedLeaf ? leaf : undefined;
    const values = encoded ? undefined : leaf.values!;
    const valueAt = (i: number): unknown => (encoded ? encoded.encodedValueAt(i) : values![i]);
    const lastIndex = keys.length - 1;
    // Within a leaf only the last key is a boundary (level ≥ 1); the others are level 0.
    const bits = writer.fanoutBits;
    const levelAt = (i: number): number => (i === lastIndex ? boundaryLevel(keys[i]!, bits) : 0);
    let i = 0;
    let c = from;
    while (i < keys.length || c < to) {
      const key = i < keys.length ? keys[i]! : undefined;
      const change = c < to ? changes[c]! : undefined;
      let fed: void | Promise<void> = undefined;
      if (change === undefined || (key !== undefined && key < change[0])) {
        fed = writer.addEntry(key!, valueAt(i), levelAt(i));
        i++;
      } else if (key === change[0]) {
        if (change[1] !== undefined) fed = writer.addEntry(key, change[1], levelAt(i));
        i++;
        c++;
      } else {
        if (change[1] !== undefined) fed = writer.addEntry(change[0], change[1]);
        c++;
      }
      if (fed) await fed;
    }
  }
}
