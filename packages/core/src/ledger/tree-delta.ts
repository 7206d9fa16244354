/**
 * What a checkpoint must write and delete for one tree: the nodes of the
 * new tree that are not stored yet, and the stored nodes of the old tree the
 * new one no longer reaches.
 *
 * Both walks prune: the new tree is only descended through pending nodes
 * (a stored node's whole subtree is stored), and the old tree is not
 * descended into any node the new tree kept (same CID, same subtree). So a
 * checkpoint costs O(nodes changed), not O(tree size). Nodes of a prolly
 * tree have exactly one parent and carry the tree's tag, so no node is
 * shared between positions or trees and deleting one never breaks another.
 *
 * Neither walk reads a leaf: a node's children sit one level below it, so
 * the children of a height-1 node are listed without being loaded. (Loading
 * them marked every new leaf as read, so the node cache took each one in
 * at the checkpoint; see `NodeCache.settlePending`.)
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import type { NodeCache } from "./node-cache.js";
import { childCids, type TreeNode } from "../crdt/prolly.js";
import { cidText } from "../codec/cid-text.js";

/** Nodes to write and to delete when moving a stored tree from `oldRoot` to `newRoot`. */
export interface TreeDelta {
  readonly added: CID[];
  readonly removed: CID[];
}

/** Computes the {@link TreeDelta} between the checkpointed `oldRoot` (or none) and `newRoot` (or none). */
export async function treeDelta(nodes: NodeCache, oldRoot: CID | undefined, newRoot: CID | undefined): Promise<TreeDelta> {
  const kept = new Set<string>();
  const added: CID[] = [];
  if (newRoot) {
    const stack: Array<[CID, boolean]> = [[newRoot, false]];
    while (stack.length > 0) {
      const [cid, leaf] = stack.pop()!;
      const key = cidText(cid);
      if (kept.has(key)) continue;
      kept.add(key);
      const block = nodes.pendingBlock(cid);
      if (!block) continue;
      added.push(cid);
      if (!leaf) pushChildren(stack, block.value);
    }
  }
  const removed: CID[] = [];
  if (oldRoot) {
    const stack: Array<[CID, boolean]> = [[oldRoot, false]];
    while (stack.length > 0) {
      const [cid, leaf] = stack.pop()!;
      if (kept.has(cidText(cid))) continue;
      removed.push(cid);
      if (!leaf) pushChildren(stack, await nodes.load(cid));
    }
  }
  return { added, removed };
}

/** Pushes `node`'s children, each marked as a leaf when `node` sits right above the leaves. */
function pushChildren(stack: Array<[CID, boolean]>, node: TreeNode): void {
  const leaves = node.height === 1;
  for (const child of childCids(node)) stack.push([child, leaves]);
}
