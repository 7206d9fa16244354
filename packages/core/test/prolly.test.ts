import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Block, CID } from "../src/codec/block.js";
import { encodeBlock } from "../src/codec/block.js";
import { HearthError } from "../src/errors.js";
import { type NodeSource, ProllyTree, type TreeNode, type TreeRange, asTreeNode, boundaryLevel, fanoutBitsOf, withFanout } from "../src/crdt/prolly.js";
import { keyHash } from "../src/crdt/prolly-node.js";
import { compactNode } from "../src/crdt/prolly-leaf.js";

/** A NodeSource that knows only the blocks it was given: proves `created` is complete. */
class BlockSource implements NodeSource {
  readonly blocks = new Map<string, TreeNode>();
  /**
   * @param async - load through promises
   * @param compact - keep nodes in the form the ledger's node cache does
   *   (leaves over their bytes), so mutations copy values as bytes
   */
  constructor(
    private readonly async = false,
    private readonly compact = false,
  ) {}
  add(blocks: Iterable<Block<TreeNode>>): this {
    for (const b of blocks) this.blocks.set(b.cid.toString(), this.compact ? compactNode(b.value, b.bytes) : b.value);
    return this;
  }
  load(cid: CID): TreeNode | Promise<TreeNode> {
    const node = this.blocks.get(cid.toString());
    if (node === undefined) throw new Error(`node ${cid} was never created`);
    return this.async ? Promise.resolve(node) : node;
  }
}

type Entries = Map<string, unknown>;
type Change = readonly [string, unknown];

const sorted = (m: Entries): [string, unknown][] => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

async function collect(it: AsyncIterable<[string, unknown]>): Promise<[string, unknown][]> {
  const out: [string, unknown][] = [];
  for await (const e of it) out.push(e);
  return out;
}

async function nodeSet(tree: ProllyTree): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const cid of tree.nodes()) out.add(cid.toString());
  return out;
}

async function buildFresh(tag: string, m: Entries): Promise<ProllyTree> {
  const source = new BlockSource();
  const { tree, created } = await ProllyTree.build(tag, sorted(m), source);
  source.add(created);
  return tree;
}

function inRange(key: string, r: TreeRange): boolean {
  return (
    (r.gt === undefined || key > r.gt) &&
    (r.gte === undefined || key >= r.gte) &&
    (r.lt === undefined || key < r.lt) &&
    (r.lte === undefined || key <= r.lte)
  );
}

// Keys whose hash makes them boundaries at one, two or three levels: they force
// deep trees from few entries and exercise splits and merges on every change.
const boundaryKeys: string[][] = [[], [], [], []];
for (let i = 0; boundaryKeys[3]!.length < 3 || boundaryKeys[1]!.length < 40; i++) {
  const key = `b${i}`;
  const level = Math.min(boundaryLevel(key), 3);
  if (level > 0 && boundaryKeys[level]!.length < 40) boundaryKeys[level]!.push(key);
}

const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 600 }).map((i) => `k${i}`) },
  { weight: 2, arbitrary: fc.constantFrom(...boundaryKeys[1]!, ...boundaryKeys[2]!, ...boundaryKeys[3]!) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
const valueArb = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.record({ n: fc.integer(), s: fc.string({ maxLength: 5 }) }));
const entriesArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 400 }).map((pairs) => new Map<string, unknown>(pairs));
const batchArb = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.tuple(keyArb, fc.option(valueArb, { nil: undefined, freq: 3 })), { maxLength: 80 }) },
  { weight: 1, arbitrary: fc.constant("clear" as const) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom("below" as const, "above" as const), keyArb) },
);
const rangeArb: fc.Arbitrary<TreeRange> = fc
  .record({
    low: fc.option(fc.tuple(fc.constantFrom("gt", "gte"), keyArb), { nil: undefined }),
    high: fc.option(fc.tuple(fc.constantFrom("lt", "lte"), keyArb), { nil: undefined }),
    reverse: fc.boolean(),
  })
  .map(({ low, high, reverse }) => ({ ...(low && { [low[0]]: low[1] }), ...(high && { [high[0]]: high[1] }), reverse }));

/** Turns a generated batch into sorted unique changes against the current map. */
function toChanges(batch: (readonly [string, unknown])[] | "clear" | ["below" | "above", string], current: Entries): Change[] {
  const drop = (keep: (key: string) => boolean): Change[] => sorted(current).flatMap(([k]) => (keep(k) ? [] : [[k, undefined] as const]));
  if (batch === "clear") return drop(() => false);
  // Dropping a whole side removes boundary keys and whole subtrees at once: roots shrink and collapse.
  if (batch[0] === "below") return drop((k) => k > batch[1]);
  if (batch[0] === "above") return drop((k) => k <= batch[1]);
  return sorted(new Map<string, unknown>(batch as (readonly [string, unknown])[]));
}

function applyToMap(m: Entries, changes: readonly Change[]): void {
  for (const [k, v] of changes) {
    if (v === undefined) m.delete(k);
    else m.set(k, v);
  }
}

describe("ProllyTree", () => {
  it("is history independent: any batches of mutations give the root that build gives, and created is exact", async () => {
    await fc.assert(
      // Fan-out 4 makes trees of a few dozen entries several levels deep.
      fc.asyncProperty(entriesArb, fc.array(batchArb, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), fc.constantFrom("t", "t@fanout=4", "t@fanout=128"), async (initial, batches, asyncSource, compact, tag) => {
        const source = new BlockSource(asyncSource, compact);
        const built = await ProllyTree.build(tag, sorted(initial), source);
        source.add(built.created);
        let tree = built.tree;
        const reference = new Map(initial);
        const allChanges: Change[] = [];
        for (const batch of batches) {
          const changes = toChanges(batch, reference);
          const before = await nodeSet(tree);
          const next = await tree.mutate(changes);
          // created: new to this tree, all reachable from the new root, and enough to read it.
          for (const b of next.created) expect(before.has(b.cid.toString())).toBe(false);
          source.add(next.created);
          const after = await nodeSet(next.tree);
          for (const b of next.created) expect(after.has(b.cid.toString())).toBe(true);
          for (const cid of after) expect(before.has(cid) || next.created.some((b) => b.cid.toString() === cid)).toBe(true);
          tree = next.tree;
          applyToMap(reference, changes);
          allChanges.push(...changes);
          expect(tree.root.toString()).toBe((await buildFresh(tag, reference)).root.toString());
        }
        expect(await tree.count()).toBe(reference.size);
        expect(await collect(tree.entries())).toEqual(sorted(reference));
        // The same net effect, one key at a time in scrambled order, lands on the same root.
        const net = new Map<string, unknown>();
        for (const [k, v] of allChanges) net.set(k, v);
        const singles = [...net.entries()].sort(([a], [b]) => ((a.length * 7 + a.charCodeAt(0)) % 5) - ((b.length * 7 + b.charCodeAt(0)) % 5));
        const replay = new BlockSource(false, compact).add(built.created);
        let other = ProllyTree.open(tag, built.tree.root, replay);
        for (const change of singles) {
          const next = await other.mutate([change]);
          replay.add(next.created);
          other = next.tree;
        }
        expect(other.root.toString()).toBe(tree.root.toString());
      }),
      { numRuns: 100 },
    );
  });

  it("get, entries (every range option, both directions) and count agree with a Map", async () => {
    await fc.assert(
      fc.asyncProperty(entriesArb, fc.array(keyArb, { maxLength: 20 }), fc.array(rangeArb, { maxLength: 12 }), async (m, probes, ranges) => {
        const tree = await buildFresh("t", m);
        expect(await tree.count()).toBe(m.size);
        for (const key of [...probes, ...m.keys()].slice(0, 60)) expect(await tree.get(key)).toEqual(m.get(key));
        const all = sorted(m);
        for (const range of [{}, { reverse: true }, ...ranges]) {
          const expected = all.filter(([k]) => inRange(k, range));
          if (range.reverse) expected.reverse();
          expect(await collect(tree.entries(range))).toEqual(expected);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("leavesTouched counts the leaves sorted keys fall into (a key past the last in the last leaf), up to its limit", async () => {
    await fc.assert(
      fc.asyncProperty(entriesArb, fc.array(keyArb, { maxLength: 60 }), fc.integer({ min: 0, max: 30 }), async (m, probes, limit) => {
        const tree = await buildFresh(withFanout("t", 4), m);
        const leaves: string[][] = [];
        for await (const batch of tree.batches()) leaves.push([...batch.keys]);
        const keys = [...new Set(probes)].sort();
        const touched = new Set(keys.map((key) => {
          const at = leaves.findIndex((leaf) => leaf.at(-1)! >= key);
          return at < 0 ? Math.max(0, leaves.length - 1) : at;
        }));
        expect(await tree.leavesTouched(keys, limit)).toBe(Math.min(touched.size, limit + 1));
      }),
      { numRuns: 200 },
    );
  });

  it("trees with different tags never share a node", async () => {
    await fc.assert(
      fc.asyncProperty(entriesArb, async (m) => {
        const a = await nodeSet(await buildFresh("a", m));
        const b = await nodeSet(await buildFresh("b", m));
        for (const cid of a) expect(b.has(cid)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it("holds 10,000 entries: build, mutations of 0 to 1,000 keys, scans and lookups stay consistent", async () => {
    const m = new Map<string, unknown>();
    for (let i = 0; i < 10_000; i++) m.set(`doc-${(i * 7919) % 100_003}`, { i, body: "x".repeat(i % 50) });
    const source = new BlockSource();
    const built = await ProllyTree.build("big", sorted(m), source);
    source.add(built.created);
    expect(await built.tree.count()).toBe(10_000);
    const nodes = await nodeSet(built.tree);
    // Average fan-out ~32: about 313 leaves and a dozen internal nodes for 10,000 keys.
    expect(nodes.size).toBeGreaterThan(200);
    expect(nodes.size).toBeLessThan(600);
    let tree = built.tree;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.option(fc.integer(), { nil: undefined })), { maxLength: 1000 }), async (raw) => {
        const changes = sorted(new Map(raw.map(([i, v]) => [`doc-${i}`, v])));
        const next = await tree.mutate(changes);
        source.add(next.created);
        tree = next.tree;
        applyToMap(m, changes);
        expect(tree.root.toString()).toBe((await buildFresh("big", m)).root.toString());
      }),
      { numRuns: 5 },
    );
    expect(await collect(tree.entries())).toEqual(sorted(m));
    expect(await collect(tree.entries({ gte: "doc-5", lt: "doc-6", reverse: true }))).toEqual(
      sorted(m).filter(([k]) => k >= "doc-5" && k < "doc-6").reverse(),
    );
    for (const key of ["doc-0", "doc-7919", "doc-99999", "nope"]) expect(await tree.get(key)).toEqual(m.get(key));
    const clear = await tree.mutate(sorted(m).map(([k]) => [k, undefined] as const));
    expect(clear.tree.root.toString()).toBe((await ProllyTree.empty("big", new BlockSource())).tree.root.toString());
  });

  it("deleting the left part of a tree can leave a reused single-child subtree, whose child becomes the root", async () => {
    const x = boundaryKeys[2]![0]!;
    // Leaves [a…, x] and [x~…]; x closes height 1 too, so each height-1 node has one child.
    const low = ["a0", "a1", "a2", "a3", "a4"].filter((k) => boundaryLevel(k) === 0);
    const high = [`${x}~`, `${x}~~`, `${x}~~~`].filter((k) => boundaryLevel(k) === 0);
    expect(low.length * high.length).toBeGreaterThan(0);
    const m = new Map<string, unknown>([...low, x, ...high].map((k) => [k, k]));
    const source = new BlockSource();
    const built = await ProllyTree.build("t", sorted(m), source);
    source.add(built.created);
    const gone = await built.tree.mutate([...low, x].sort().map((k) => [k, undefined] as const));
    source.add(gone.created);
    const expected = await buildFresh("t", new Map(high.map((k) => [k, k])));
    expect(gone.tree.root.toString()).toBe(expected.root.toString());
    expect((await source.load(gone.tree.root)).height).toBe(0);
  });

  it("writes internal nodes byte for byte as the generic dag-cbor encoder would", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.uniqueArray(fc.string({ maxLength: 40, unit: "binary" }), { minLength: 1, maxLength: 300 }),
        async (tag, height, rawKeys) => {
          const keys = [...rawKeys].sort();
          const child = (await encodeBlock({ tag })).cid;
          const node = { tag, height, keys, children: keys.map(() => child) };
          const block = await encodeBlock(node);
          expect(Buffer.from(block.bytes).toString("hex")).toBe(Buffer.from(dagCbor.encode(node)).toString("hex"));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("keeps its storage format: key hash vectors and fixed roots (changing either changes every stored root)", async () => {
    // MurmurHash3 x86_32, seed 0, over UTF-16LE: vectors from an independent implementation.
    const vectors: [string, number][] = [["", 0], ["a", 1867108634], ["ab", 374890698], ["abc", 1118836419], ["doc-00000001", 1547454252], ["é😀x", 2731639425]];
    for (const [key, hash] of vectors) expect(keyHash(key)).toBe(hash);
    const source = new BlockSource();
    const { tree, created } = await ProllyTree.build("fixture", Array.from({ length: 200 }, (_, i) => [`k${String(i).padStart(3, "0")}`, { i }] as const), source);
    source.add(created);
    expect(tree.root.toString()).toBe("bafyreidm54z3geeurha4kfighhoftztmh4ujubt65ixwc5x6goas5yxmvq");
    expect(created).toHaveLength(9);
    expect((await ProllyTree.empty("fixture", source)).tree.root.toString()).toBe("bafyreie3ja2zwuwama6n4jjavvmvzvsd7bvcc23koiwdw6cyt77wtk3llu");
    const wide = await ProllyTree.build("fixture@fanout=128", Array.from({ length: 2_000 }, (_, i) => [`k${String(i).padStart(4, "0")}`, { i }] as const), source);
    expect(wide.tree.root.toString()).toBe("bafyreicpyehhsfhfpho4vzn23lhocoihyl3ut4eia5trhlulicpww4uohy");
    expect(wide.created).toHaveLength(12);
  });

  it("takes its fan-out from its tag: 32 unless the tag ends in @fanout=N, N a power of two from 4 to 1024", async () => {
    expect(fanoutBitsOf("t")).toBe(5);
    expect(fanoutBitsOf("hearth/state/1")).toBe(5);
    expect(fanoutBitsOf("t@fanout=4")).toBe(2);
    expect(fanoutBitsOf("t@fanout=128")).toBe(7);
    expect(fanoutBitsOf("t@fanout=1024")).toBe(10);
    expect(withFanout("idx", 128)).toBe("idx@fanout=128");
    for (const bad of ["t@fanout=", "t@fanout=2", "t@fanout=100", "t@fanout=2048", "t@fanout=0128", "t@fanout=12x", "t@fanout=-4"]) {
      expect(() => fanoutBitsOf(bad)).toThrow(TypeError);
      await expect(ProllyTree.empty(bad, new BlockSource())).rejects.toThrow(TypeError);
    }
    expect(() => withFanout("t", 100)).toThrow(TypeError);
    // The average holds: 20,000 keys make ~156 leaves at 128, ~625 at 32.
    const entries = Array.from({ length: 20_000 }, (_, i) => [`doc-${String(i).padStart(6, "0")}`, i] as const);
    const wide = await ProllyTree.build("t@fanout=128", entries, new BlockSource());
    const narrow = await ProllyTree.build("t", entries, new BlockSource());
    const leaves = (created: Block<TreeNode>[]): number => created.filter((b) => b.value.height === 0).length;
    expect(leaves(wide.created)).toBeGreaterThan(100);
    expect(leaves(wide.created)).toBeLessThan(230);
    expect(leaves(narrow.created)).toBeGreaterThan(450);
    expect(leaves(narrow.created)).toBeLessThan(800);
    for (const b of wide.created) expect(b.value.tag).toBe("t@fanout=128");
  });

  it("an empty tree is one empty leaf and reads as empty", async () => {
    const source = new BlockSource();
    const { tree, created } = await ProllyTree.empty("t", source);
    source.add(created);
    expect(created).toHaveLength(1);
    expect(created[0]!.value).toEqual({ tag: "t", height: 0, keys: [], values: [] });
    expect(await tree.count()).toBe(0);
    expect(await tree.get("a")).toBeUndefined();
    expect(await collect(tree.entries({ gt: "a", reverse: true }))).toEqual([]);
    const noop = await tree.mutate([["a", undefined]]);
    expect(noop.tree.root.equals(tree.root)).toBe(true);
    expect(noop.created).toEqual([]);
  });

  it("rewriting a value to itself creates nothing; a real change creates only the rewritten path", async () => {
    const m = new Map<string, unknown>(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]));
    const source = new BlockSource();
    const built = await ProllyTree.build("t", sorted(m), source);
    source.add(built.created);
    const same = await built.tree.mutate([["k42", 42]]);
    expect(same.created).toEqual([]);
    expect(same.tree.root.equals(built.tree.root)).toBe(true);
    const changed = await built.tree.mutate([["k42", "new"]]);
    expect(changed.created.length).toBeLessThanOrEqual(6);
    source.add(changed.created);
    expect(await changed.tree.get("k42")).toBe("new");
    expect(await built.tree.get("k42")).toBe(42); // the old version stays readable
  });

  it("rejects unsorted, duplicate or non-string keys and undefined build values with TypeError", async () => {
    const source = new BlockSource();
    const { tree, created } = await ProllyTree.empty("t", source);
    source.add(created);
    await expect(tree.mutate([["b", 1], ["a", 1]])).rejects.toBeInstanceOf(TypeError);
    await expect(tree.mutate([["a", 1], ["a", 2]])).rejects.toBeInstanceOf(TypeError);
    await expect(tree.mutate([[1 as unknown as string, 1]])).rejects.toBeInstanceOf(TypeError);
    await expect(ProllyTree.build("t", [["b", 1], ["a", 1]], source)).rejects.toBeInstanceOf(TypeError);
    await expect(ProllyTree.build("t", [["a", undefined]], source)).rejects.toBeInstanceOf(TypeError);
    await expect(ProllyTree.build("", [], source)).rejects.toBeInstanceOf(TypeError);
    expect(() => tree.entries({ gt: "a", gte: "b" })).toThrow(TypeError);
    expect(() => tree.entries({ lt: "a", lte: "b" })).toThrow(TypeError);
    expect(() => tree.entries({ lt: 3 as unknown as string })).toThrow(TypeError);
  });

  it("refuses a root that belongs to another tree with INTEGRITY", async () => {
    const source = new BlockSource();
    const { tree, created } = await ProllyTree.build("a", [["x", 1]], source);
    source.add(created);
    const foreign = ProllyTree.open("b", tree.root, source);
    await expect(foreign.get("x")).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(foreign.mutate([["y", 2]])).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  it("asTreeNode accepts stored nodes and rejects malformed ones with INTEGRITY", async () => {
    const { created } = await ProllyTree.build("t", Array.from({ length: 100 }, (_, i) => [`k${String(i).padStart(3, "0")}`, i] as const), new BlockSource());
    for (const b of created) expect(asTreeNode(b.value, b.cid)).toBe(b.value);
    const bad = [null, { tag: 1, height: 0, keys: [], values: [] }, { tag: "t", height: 0, keys: ["b", "a"], values: [1, 2] }, { tag: "t", height: 1, keys: ["a"], children: ["x"] }, { tag: "t", height: 0, keys: ["a"], values: [] }];
    for (const value of bad) {
      const { cid } = await encodeBlock(value);
      let error: unknown;
      try {
        asTreeNode(value, cid);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HearthError);
      expect((error as HearthError).code).toBe("INTEGRITY");
    }
  });
});
