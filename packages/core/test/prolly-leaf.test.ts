// Encoded leaves (crdt/prolly-leaf.ts) and the byte-bounded node cache (ledger/node-cache.ts).
import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256 } from "multiformats/hashes/sha2";
import { CID, encodeBlock } from "../src/codec/block.js";
import { cidText } from "../src/codec/cid-text.js";
import { compactNode, decodeTreeNode, EncodedLeaf, nodeBytes } from "../src/crdt/prolly-leaf.js";
import { EncodedBranch } from "../src/crdt/prolly-branch.js";
import { childAt, findKey, keyAt, keyCount, keyIs, leafValue, lowerBound, type TreeNode } from "../src/crdt/prolly-node.js";
import { getValue } from "../src/crdt/prolly-read.js";
import { NodeCache, nodeKey } from "../src/ledger/node-cache.js";
import { openMemoryStore } from "../src/store/memory.js";
import { expectCode } from "./helpers/expect-code.js";

/** JSON-like values of the shapes registers hold, plus bytes. */
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie("any"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__"), tie("any"), { maxKeys: 4 }),
  ),
})).any;

/** Keys: mostly ASCII (kept encoded), sometimes any UTF-16 (kept decoded), lengths on both sides of the hand-decoding limit. */
const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8, unit: "binary" }) },
);

const leafArb = fc
  .uniqueArray(fc.tuple(keyArb, value), { minLength: 1, maxLength: 60, selector: ([k]) => k })
  .map((entries) => {
    const sorted = entries.sort(([a], [b]) => (a < b ? -1 : 1));
    return { tag: "test/leaf", height: 0, keys: sorted.map(([k]) => k), values: sorted.map(([, v]) => v) } satisfies TreeNode;
  });

describe("encoded leaves", () => {
  it("decode to the same keys and values as the full decoder, from the store and from a fresh block", async () => {
    await fc.assert(
      fc.asyncProperty(leafArb, async (leaf) => {
        const block = await encodeBlock(leaf);
        // What the full decoder gives (dag-cbor itself turns -0 into 0, for one).
        const decoded = dagCbor.decode<TreeNode>(block.bytes);
        for (const node of [await decodeTreeNode(block.cid, block.bytes), compactNode(leaf, block.bytes)]) {
          expect(node).toBeInstanceOf(EncodedLeaf);
          expect(node.keys).toEqual(leaf.keys);
          expect(node.height).toBe(0);
          expect(node.tag).toBe(leaf.tag);
          expect(keyCount(node)).toBe(leaf.keys.length);
          leaf.keys.forEach((key, i) => {
            expect(keyAt(node, i)).toBe(key);
            expect(keyIs(node, i, key)).toBe(true);
          });
          // Values read out of order, so the value offsets are found in several steps.
          for (let i = leaf.keys.length - 1; i >= 0; i -= 2) expect(leafValue(node, i)).toEqual(decoded.values![i]);
          leaf.keys.forEach((_, i) => expect(leafValue(node, i)).toEqual(decoded.values![i]));
          expect(node.values).toEqual(decoded.values);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("hand a reader each value where it starts, in any order, and refuse an end the layout does not have", async () => {
    await fc.assert(
      fc.asyncProperty(leafArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), async (leaf, order) => {
        const block = await encodeBlock(leaf);
        const node = (await decodeTreeNode(block.cid, block.bytes)) as EncodedLeaf;
        const bytesOf = (i: number): Uint8Array => node.encodedValueAt(i).bytes;
        const fresh = (await decodeTreeNode(block.cid, block.bytes)) as EncodedLeaf;
        for (const n of order) {
          const i = n % leaf.keys.length;
          // The offset handed over is where value i's bytes start (found by skipping the ones before, or already known).
          const start = fresh.valueVia(i, (bytes, offset) => ({ value: offset, end: offset + bytesOf(i).length }));
          // As plain Uint8Arrays: a block the generic encoder wrote may be a Buffer.
          expect(Uint8Array.from(block.bytes.subarray(start, start! + bytesOf(i).length))).toEqual(Uint8Array.from(bytesOf(i)));
          expect(fresh.valueVia(i, () => undefined)).toBeUndefined();
          // Once its end is known, a reader that reports another is refused.
          expect(() => fresh.valueVia(i, (_, offset) => ({ value: offset, end: offset + bytesOf(i).length + 1 }))).toThrow(
            expect.objectContaining({ code: "INTEGRITY" }),
          );
        }
        expect(fresh.values).toEqual(dagCbor.decode<TreeNode>(block.bytes).values);
      }),
      { numRuns: 200 },
    );
  });

  it("find a key exactly as a binary search over the decoded keys does, for any probe", async () => {
    const probe = fc.oneof(keyArb, fc.string({ maxLength: 6, unit: "binary" }), fc.constant(""));
    await fc.assert(
      fc.asyncProperty(leafArb, fc.array(probe, { maxLength: 20 }), async (leaf, probes) => {
        const block = await encodeBlock(leaf);
        const node = await decodeTreeNode(block.cid, block.bytes);
        for (const key of [...probes, ...leaf.keys]) {
          const i = findKey(node, key);
          expect(i).toBe(lowerBound(leaf.keys, key));
          if (i < leaf.keys.length) expect(keyIs(node, i, key)).toBe(leaf.keys[i] === key);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("internal nodes keep their children encoded and make each CID when asked, from the store and from a fresh block", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 30 }),
        fc.constantFrom(0x71, 0x55),
        async (unsorted, height, codec) => {
          const keys = unsorted.sort((a, b) => (a < b ? -1 : 1));
          const children = await Promise.all(keys.map(async (k) => (await encodeBlock({ k, codec })).cid.toV1()));
          const raw = children.map((c, i) => (codec === 0x55 && i % 2 === 0 ? CID.createV1(0x55, c.multihash) : c));
          const branch = { tag: "test/branch", height, keys, children: raw } satisfies TreeNode;
          const block = await encodeBlock(branch);
          for (const node of [await decodeTreeNode(block.cid, block.bytes), compactNode(branch, block.bytes)]) {
            expect(node).toBeInstanceOf(EncodedBranch);
            expect(node.height).toBe(height);
            expect(node.tag).toBe(branch.tag);
            expect(node.keys).toEqual(keys);
            raw.forEach((cid, i) => expect(childAt(node, i).equals(cid)).toBe(true));
            // Asked again, a child's text is the one kept from the first time: still its own.
            for (let i = raw.length - 1; i >= 0; i--) expect(cidText(childAt(node, i))).toBe(raw[i]!.toString());
            expect(node.children!.map(String)).toEqual(raw.map(String));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("an internal node whose children are not well formed is INTEGRITY, and an unusual CID goes through the full decoder", async () => {
    const leaf = await encodeBlock({ tag: "t", height: 0, keys: ["a"], values: [1] });
    const noChildren = await encodeBlock({ tag: "t", height: 1, keys: ["a"], children: [] });
    await expectCode(decodeTreeNode(noChildren.cid, noChildren.bytes), "INTEGRITY");
    const notCid = await encodeBlock({ tag: "t", height: 1, keys: ["a"], children: ["x"] });
    await expectCode(decodeTreeNode(notCid.cid, notCid.bytes), "INTEGRITY");
    const fewer = await encodeBlock({ tag: "t", height: 1, keys: ["a", "b"], children: [leaf.cid] });
    await expectCode(decodeTreeNode(fewer.cid, fewer.bytes), "INTEGRITY");
    // A CIDv0 child is valid dag-cbor and a valid node, just not the form kept encoded.
    const v0 = CID.createV0(leaf.cid.multihash as never);
    const withV0 = await encodeBlock({ tag: "t", height: 1, keys: ["a"], children: [v0] });
    const node = await decodeTreeNode(withV0.cid, withV0.bytes);
    expect(node).not.toBeInstanceOf(EncodedBranch);
    expect(childAt(node, 0).equals(v0)).toBe(true);
  });

  it("bytes that are not their CID's, or not a node, are INTEGRITY", async () => {
    const block = await encodeBlock({ tag: "t", height: 0, keys: ["a", "b"], values: [1, 2] });
    const altered = block.bytes.slice();
    altered[altered.length - 1] = altered[altered.length - 1]! ^ 1;
    await expectCode(decodeTreeNode(block.cid, altered), "INTEGRITY");
    const notNode = await encodeBlock({ tag: "t", height: 0, keys: ["b", "a"], values: [1, 2] });
    await expectCode(decodeTreeNode(notNode.cid, notNode.bytes), "INTEGRITY");
    const fewerValues = await encodeBlock({ tag: "t", height: 0, keys: ["a", "b"], values: [1] });
    await expectCode(decodeTreeNode(fewerValues.cid, fewerValues.bytes), "INTEGRITY");
    // A key that is not UTF-8, under a CID that matches the bytes: what the
    // full decoder makes of it (it reads such text lossily), never a crash.
    const ascii = await encodeBlock({ tag: "t", height: 0, keys: ["ab"], values: [1] });
    const at = Buffer.from(ascii.bytes).indexOf(Buffer.from([0x62, 0x61, 0x62]));
    const notUtf8 = ascii.bytes.slice();
    notUtf8.set([0xff, 0xfe], at + 1);
    const cid = CID.createV1(0x71, await sha256.digest(notUtf8));
    const lossy = await decodeTreeNode(cid, notUtf8);
    expect(lossy.keys).toEqual(["\ufffd\ufffd"]);
  });

  it("a leaf is charged about its encoded size, not its decoded objects", async () => {
    const values = Array.from({ length: 32 }, (_, i) => ({ title: `todo ${i}`, tags: ["a", "b"], n: i, done: i % 2 === 0 }));
    const keys = values.map((_, i) => `doc-${String(i).padStart(4, "0")}`);
    const block = await encodeBlock({ tag: "t", height: 0, keys, values });
    const node = await decodeTreeNode(block.cid, block.bytes);
    expect(nodeBytes(node, block.bytes.length)).toBeGreaterThan(block.bytes.length);
    expect(nodeBytes(node, block.bytes.length)).toBeLessThan(block.bytes.length * 2);
  });
});

describe("node cache", () => {
  it("holds at most its byte budget of nodes (plus the one just read), least recently used out first", async () => {
    const store = await openMemoryStore("memory://node-cache-budget");
    const blocks = [];
    for (let i = 0; i < 200; i++) {
      const keys = Array.from({ length: 20 }, (_, k) => `k${String(k).padStart(3, "0")}`);
      blocks.push(await encodeBlock({ tag: "t", height: 0, keys, values: keys.map((k) => ({ i, k, pad: "x".repeat(100) })) }));
    }
    await store.write({ put: blocks.map((b) => [nodeKey(b.cid), b.bytes] as const) });
    const budget = 40_000;
    const cache = new NodeCache(store, budget);
    let largest = 0;
    for (const b of blocks) {
      const node = await cache.load(b.cid);
      largest = Math.max(largest, nodeBytes(node, b.bytes.length));
      expect(cache.cachedBytes).toBeLessThanOrEqual(budget + largest);
    }
    // The most recent node is a hit (synchronous); the first was evicted (a promise).
    expect(cache.load(blocks.at(-1)!.cid)).not.toBeInstanceOf(Promise);
    expect(cache.load(blocks[0]!.cid)).toBeInstanceOf(Promise);
    await store.close();
  });

  it("with a budget large enough for a leaf arena: holds leaves there within the budget, and each hit is a leaf of its own", async () => {
    const store = await openMemoryStore("memory://node-cache-arena");
    const blocks = [];
    for (let i = 0; i < 400; i++) {
      const keys = Array.from({ length: 20 }, (_, k) => `doc-${String(i).padStart(4, "0")}-${String(k).padStart(2, "0")}`);
      blocks.push(await encodeBlock({ tag: "t", height: 0, keys, values: keys.map((k) => ({ i, k, pad: "x".repeat(200) })) }));
    }
    await store.write({ put: blocks.map((b) => [nodeKey(b.cid), b.bytes] as const) });
    const budget = 1 << 20;
    const cache = new NodeCache(store, budget);
    for (const b of blocks) {
      const node = await cache.load(b.cid);
      expect(node.keys[0]).toBe(dagCbor.decode<TreeNode>(b.bytes).keys[0]);
      expect(cache.cachedBytes).toBeLessThanOrEqual(budget);
    }
    // The newest leaves are hits: synchronous, equal to the block, and not shared with the cache.
    const last = blocks.at(-1)!;
    const hit = cache.load(last.cid) as TreeNode;
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit.values).toEqual(dagCbor.decode<TreeNode>(last.bytes).values);
    (hit as EncodedLeaf).bytes.fill(0);
    expect((cache.load(last.cid) as TreeNode).values).toEqual(dagCbor.decode<TreeNode>(last.bytes).values);
    // The oldest were evicted: read from the store again.
    expect(cache.load(blocks[0]!.cid)).toBeInstanceOf(Promise);
    await store.close();
  });

  it("a lookup whose leaf it fetches reads the value from the cached leaf, which keeps where the values it passed end (the next lookup there walks none again)", async () => {
    const store = await openMemoryStore("memory://node-cache-lookup-ends");
    const keys = Array.from({ length: 40 }, (_, k) => `doc-${String(k).padStart(2, "0")}`);
    const leaf = await encodeBlock({ tag: "t", height: 0, keys, values: keys.map((k) => ({ k, pad: "x".repeat(50) })) });
    const root = await encodeBlock({ tag: "t", height: 1, keys: [keys.at(-1)!], children: [leaf.cid] });
    await store.write({ put: [leaf, root].map((b) => [nodeKey(b.cid), b.bytes] as const) });
    const cache = new NodeCache(store, 1 << 20);
    await cache.load(root.cid);
    expect(await getValue(cache, "t", root.cid, "doc-30")).toEqual({ k: "doc-30", pad: "x".repeat(50) });
    const held = cache.load(leaf.cid);
    expect(held).not.toBeInstanceOf(Promise);
    expect((held as EncodedLeaf).valuesFound).toBeGreaterThanOrEqual(31);
    await store.close();
  });

  it("at a checkpoint caches persisted nodes that were read, leaves the rest to the store, and keeps superseded ones one more checkpoint", async () => {
    const store = await openMemoryStore("memory://node-cache-settle");
    const leaf = (n: number) => encodeBlock({ tag: "t", height: 0, keys: [`k${n}`], values: [n] });
    const [readLeaf, unreadLeaf, superseded] = await Promise.all([leaf(1), leaf(2), leaf(3)]);
    const internal = await encodeBlock({ tag: "t", height: 1, keys: ["k1", "k2"], children: [readLeaf.cid, unreadLeaf.cid] });
    const cache = new NodeCache(store, 1 << 20);
    cache.addPending([readLeaf, unreadLeaf, superseded, internal]);
    expect(cache.load(readLeaf.cid)).not.toBeInstanceOf(Promise);
    // The checkpoint writes what the new tree reaches, then settles.
    const persisted = [readLeaf, unreadLeaf, internal];
    await store.write({ put: persisted.map((b) => [nodeKey(b.cid), b.bytes] as const) });
    cache.settlePending(new Set(persisted.map((b) => b.cid.toString())));
    expect(cache.load(internal.cid)).not.toBeInstanceOf(Promise);
    expect(cache.load(readLeaf.cid)).not.toBeInstanceOf(Promise);
    const fromStore = cache.load(unreadLeaf.cid);
    expect(fromStore).toBeInstanceOf(Promise);
    expect((await fromStore).keys).toEqual(["k2"]);
    // A reader on an older root may still step into a superseded node until the next checkpoint.
    expect(cache.load(superseded.cid)).not.toBeInstanceOf(Promise);
    cache.settlePending(new Set());
    await expectCode(cache.load(superseded.cid) as Promise<unknown>, "INTEGRITY");
    await store.close();
  });

  it("caches a node a scan reads only if it fits without evicting anything", async () => {
    const store = await openMemoryStore("memory://node-cache-scan");
    const blocks = [];
    for (let i = 0; i < 6; i++) blocks.push(await encodeBlock({ tag: "t", height: 0, keys: ["k"], values: ["x".repeat(2000) + i] }));
    await store.write({ put: blocks.map((b) => [nodeKey(b.cid), b.bytes] as const) });
    const one = nodeBytes(await new NodeCache(store).load(blocks[0]!.cid), blocks[0]!.bytes.length);
    const cache = new NodeCache(store, one * 3);
    // Room for the first: a scan caches it.
    await cache.load(blocks[0]!.cid, true);
    expect(cache.load(blocks[0]!.cid)).not.toBeInstanceOf(Promise);
    await cache.load(blocks[1]!.cid);
    await cache.load(blocks[2]!.cid);
    // Full: a scan's node is read but evicts nothing.
    await cache.load(blocks[3]!.cid, true);
    for (const b of blocks.slice(0, 3)) expect(cache.load(b.cid)).not.toBeInstanceOf(Promise);
    const again = cache.load(blocks[3]!.cid, true);
    expect(again).toBeInstanceOf(Promise);
    await again;
    await store.close();
  });
});
