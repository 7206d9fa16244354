import { describe, expect, it } from "vitest";
import type { Block, CID } from "../src/codec/block.js";
import { ProllyTree, type NodeSource, type TreeNode, type TreeRange } from "../src/crdt/prolly.js";
import { SCAN_READ_AHEAD } from "../src/crdt/prolly-read.js";

/**
 * An asynchronous source (like a store) that counts every load and can be
 * told to fail some: what the scan's read-ahead is judged by.
 */
class CountingSource implements NodeSource {
  readonly blocks = new Map<string, TreeNode>();
  readonly loads = new Map<string, number>();
  failing = new Set<string>();
  add(blocks: Iterable<Block<TreeNode>>): void {
    for (const b of blocks) this.blocks.set(b.cid.toString(), b.value);
  }
  load(cid: CID): Promise<TreeNode> {
    const key = cid.toString();
    this.loads.set(key, (this.loads.get(key) ?? 0) + 1);
    if (this.failing.has(key)) return Promise.reject(new Error(`node ${key} is unreadable`));
    return Promise.resolve(this.blocks.get(key)!);
  }
  get total(): number {
    let sum = 0;
    for (const n of this.loads.values()) sum += n;
    return sum;
  }
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `doc-${String(i).padStart(5, "0")}`);

async function treeOf(n: number): Promise<{ tree: ProllyTree; source: CountingSource }> {
  const source = new CountingSource();
  const { tree, created } = await ProllyTree.build("read-ahead", ids(n).map((k, i) => [k, i] as const), source);
  source.add(created);
  return { tree, source };
}

async function collect(tree: ProllyTree, range: TreeRange, limit = Infinity): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of tree.entries(range)) {
    if (out.length >= limit) break;
    out.push(key);
  }
  return out;
}

/** The leaves holding at least one key of `keys`: what a scan of exactly those keys must load. */
async function leavesHolding(tree: ProllyTree, source: CountingSource, keys: readonly string[]): Promise<Set<string>> {
  const wanted = new Set(keys);
  const out = new Set<string>();
  for await (const cid of tree.nodes()) {
    const node = source.blocks.get(cid.toString())!;
    if (node.height === 0 && node.keys.some((k) => wanted.has(k))) out.add(cid.toString());
  }
  return out;
}

describe("prolly scan read-ahead", () => {
  it("a full scan loads every node exactly once, in either direction", async () => {
    const { tree, source } = await treeOf(20_000);
    const nodes = new Set<string>();
    for await (const cid of tree.nodes()) nodes.add(cid.toString());
    for (const reverse of [false, true]) {
      source.loads.clear();
      const keys = await collect(tree, { reverse });
      expect(keys).toEqual(reverse ? ids(20_000).reverse() : ids(20_000));
      expect(new Set(source.loads.keys())).toEqual(nodes);
      expect([...source.loads.values()].every((n) => n === 1)).toBe(true);
    }
  });

  it("a scan stopped after one entry reads only a few nodes ahead", async () => {
    const { tree, source } = await treeOf(20_000);
    let height = 0;
    for (let node = source.blocks.get(tree.root.toString())!; node.height > 0; node = source.blocks.get(node.children![0]!.toString())!) height++;
    source.loads.clear();
    expect(await collect(tree, {}, 1)).toEqual(["doc-00000"]);
    // The path down and at most two siblings of each node on it below the root.
    expect(source.total).toBeLessThanOrEqual(1 + 3 * height);
  });

  it("loads no leaf past the one after the range's far end", async () => {
    const { tree, source } = await treeOf(20_000);
    const all = ids(20_000);
    const ranges: Array<[TreeRange, string[]]> = [
      [{ gte: "doc-03000", lt: "doc-09000" }, all.slice(3000, 9000)],
      [{ gt: "doc-03000", lte: "doc-09000", reverse: true }, all.slice(3001, 9001).reverse()],
      [{ lt: "doc-00500" }, all.slice(0, 500)],
      [{ gte: "doc-19500", reverse: true }, all.slice(19_500).reverse()],
    ];
    for (const [range, expected] of ranges) {
      source.loads.clear();
      expect(await collect(tree, range)).toEqual(expected);
      const loadedLeaves = new Set([...source.loads.keys()].filter((k) => source.blocks.get(k)!.height === 0));
      const holding = await leavesHolding(tree, source, expected);
      for (const leaf of holding) expect(loadedLeaves.has(leaf)).toBe(true);
      // A scan without read-ahead also loads the leaf after the range, to see the range ended.
      expect(loadedLeaves.size).toBeLessThanOrEqual(holding.size + 1);
    }
  });

  it("a read-ahead load that fails past where the scan stops is not reported", async () => {
    const { tree, source } = await treeOf(20_000);
    const root = source.blocks.get(tree.root.toString())!;
    const firstInternal = source.blocks.get(root.children![0]!.toString())!;
    // The second leaf: loaded ahead when the scan enters the first, never reached.
    source.failing = new Set([firstInternal.children![1]!.toString()]);
    expect(await collect(tree, {}, 1)).toEqual(["doc-00000"]);
    // Reaching it reports its failure.
    await expect(collect(tree, {})).rejects.toThrow(/unreadable/);
  });

  it("reads ahead at most SCAN_READ_AHEAD children per level", async () => {
    expect(SCAN_READ_AHEAD).toBeGreaterThanOrEqual(2);
    const { tree, source } = await treeOf(20_000);
    let inFlight = 0;
    let most = 0;
    const load = source.load.bind(source);
    source.load = (cid) => {
      inFlight++;
      most = Math.max(most, inFlight);
      return load(cid).finally(() => inFlight--);
    };
    await collect(tree, {});
    expect(most).toBeLessThanOrEqual(3 * (SCAN_READ_AHEAD + 1));
  });
});
