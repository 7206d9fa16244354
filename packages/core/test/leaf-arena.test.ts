// The node cache's leaf arena (ledger/leaf-arena.ts): leaves held as records in reused segments.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CID } from "multiformats/cid";
import { encodeBlock } from "../src/codec/block.js";
import { decodeTreeNode, EncodedLeaf } from "../src/crdt/prolly-leaf.js";
import type { TreeNode } from "../src/crdt/prolly-node.js";
import { LeafArena } from "../src/ledger/leaf-arena.js";
import { NOT_HELD } from "../src/crdt/prolly-node.js";

/** What a leaf reads as: its tag, keys and values, all decoded. */
function contents(leaf: EncodedLeaf): { tag: string; keys: readonly string[]; values: readonly unknown[] } {
  return { tag: leaf.tag, keys: leaf.keys, values: leaf.values };
}

async function leafOf(node: TreeNode): Promise<EncodedLeaf> {
  const block = await encodeBlock(node);
  const leaf = await decodeTreeNode(block.cid, block.bytes);
  if (!(leaf instanceof EncodedLeaf)) throw new Error("expected an encoded leaf");
  return leaf;
}

/** The CID and bytes `leaf` was decoded from, to decode it afresh. */
async function blockOf(leaf: EncodedLeaf): Promise<[CID, Uint8Array]> {
  const block = await encodeBlock({ tag: leaf.tag, height: 0, keys: leaf.keys, values: leaf.values });
  return [block.cid, block.bytes];
}

/** Leaf `n`: `size` keys (ASCII), values of a few shapes, so records differ in length. */
function numberedLeaf(n: number, size: number, tag = "t"): Promise<EncodedLeaf> {
  const keys = Array.from({ length: size }, (_, k) => `key-${String(n).padStart(4, "0")}-${String(k).padStart(3, "0")}`);
  return leafOf({ tag, height: 0, keys, values: keys.map((key, k) => (k % 3 === 0 ? { key, n } : k % 3 === 1 ? [n, k, "x".repeat(k % 17)] : key.length + n)) });
}

describe("leaf arena", () => {
  it("gives back what was added or nothing, within its capacity, and a leaf handed out stays whole however the segments turn", async () => {
    const leaves = await Promise.all(Array.from({ length: 24 }, (_, n) => numberedLeaf(n, 1 + ((n * 7) % 13), n % 3 === 0 ? "other" : "t")));
    const expected = leaves.map(contents);
    const op = fc.oneof(
      fc.record({ add: fc.nat(leaves.length - 1) }),
      fc.record({ get: fc.nat(leaves.length - 1), keep: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 200 }), fc.constantFrom(2048, 4096), fc.integer({ min: 2, max: 5 }), async (ops, segmentBytes, segments) => {
        const capacity = segments * segmentBytes + 4 * 160;
        const arena = new LeafArena(capacity, segmentBytes);
        const handedOut: [EncodedLeaf, number][] = [];
        for (const step of ops) {
          if ("add" in step) {
            expect(arena.add(`k${step.add}`, leaves[step.add]!)).toBe(true);
            expect(arena.has(`k${step.add}`)).toBe(true);
          } else {
            const leaf = arena.get(`k${step.get}`);
            if (leaf) {
              expect(contents(leaf)).toEqual(expected[step.get]);
              if (step.keep) handedOut.push([leaf, step.get]);
            }
          }
          expect(arena.bytes).toBeLessThanOrEqual(capacity + segmentBytes);
        }
        for (const [leaf, n] of handedOut) expect(contents(leaf)).toEqual(expected[n]);
        // The added leaves were not changed by being copied in.
        leaves.forEach((leaf, n) => expect(contents(leaf)).toEqual(expected[n]));
      }),
      { numRuns: 150 },
    );
  });

  it("keeps a leaf read since its segment was last reused (once), and drops the unread ones there", async () => {
    const leaves = await Promise.all(Array.from({ length: 40 }, (_, n) => numberedLeaf(n, 8)));
    const segmentBytes = 4096;
    const arena = new LeafArena(2 * segmentBytes + 64 * 160, segmentBytes);
    // Fill until the first segment is reused: the first leaves are then gone, but the one read survives.
    expect(arena.add("k0", leaves[0]!)).toBe(true);
    expect(arena.add("k1", leaves[1]!)).toBe(true);
    expect(arena.get("k1")).toBeDefined();
    let n = 2;
    while (arena.has("k0")) {
      expect(arena.add(`k${n}`, leaves[n]!)).toBe(true);
      n++;
    }
    expect(arena.has("k1")).toBe(true);
    expect(contents(arena.get("k1")!)).toEqual(contents(leaves[1]!));
    // Marked again by that get, it survives the next turn too; unread, it goes the turn after.
    const beforeNextTurn = n;
    while (arena.has("k2") || n === beforeNextTurn) {
      expect(arena.add(`k${n}`, leaves[n]!)).toBe(true);
      n++;
    }
    expect(arena.has("k1")).toBe(true);
    while (arena.has("k1")) {
      expect(arena.add(`k${n % leaves.length}`, leaves[n % leaves.length]!)).toBe(true);
      n++;
    }
    expect(arena.get("k1")).toBeUndefined();
  });

  it("says whether a leaf fits without evicting, and then evicts nothing to add it", async () => {
    const leaves = await Promise.all(Array.from({ length: 80 }, (_, n) => numberedLeaf(n, 6)));
    const arena = new LeafArena(2 * 4096 + 30 * 160, 4096);
    let n = 0;
    while (arena.fits(leaves[n]!)) {
      const before = arena.size;
      arena.add(`k${n}`, leaves[n]!);
      expect(arena.size).toBe(before + 1);
      n++;
    }
    expect(n).toBeGreaterThan(2);
    const before = arena.size;
    arena.add(`k${n}`, leaves[n]!);
    expect(arena.size).toBeLessThanOrEqual(before);
  });

  it("holds no leaf it cannot (keys not all ASCII, larger than a segment); one with values not where the keys say is held and its reads report it", async () => {
    const arena = new LeafArena(8 * 1024, 1024);
    const unicode = await leafOf({ tag: "t", height: 0, keys: ["é", "ü"], values: [1, 2] });
    expect(unicode.keySpans).toBeUndefined();
    expect(arena.fits(unicode)).toBe(false);
    expect(arena.add("unicode", unicode)).toBe(false);
    const large = await leafOf({ tag: "t", height: 0, keys: ["a"], values: ["x".repeat(2000)] });
    expect(arena.fits(large)).toBe(false);
    expect(arena.add("large", large)).toBe(false);
    // A leaf with a byte after its last value: its reads report it, the leaf's own and the arena's alike.
    const good = await leafOf({ tag: "t", height: 0, keys: ["a", "b"], values: [1, 2] });
    const padded = new Uint8Array(good.bytes.length + 1);
    padded.set(good.bytes);
    const damaged = new EncodedLeaf("t", good.keySpans!, padded, good.knownValueEnds()[0]!);
    expect(arena.add("damaged", damaged)).toBe(true);
    expect(arena.lookup("damaged", "t", "a")).toBe(1);
    expect(() => arena.lookup("damaged", "t", "b")).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
    expect(() => arena.get("damaged")!.values).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
    expect(() => damaged.valueAt(1)).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
    expect(arena.add("ok", good)).toBe(true);
    expect(arena.size).toBe(2);
    expect(arena.has("unicode") || arena.has("large")).toBe(false);
  });

  it("reads a value in place as the leaf itself does, for every key and for absent ones; not for another tree's tag or a leaf it does not hold", async () => {
    const leaves = await Promise.all(Array.from({ length: 12 }, (_, n) => numberedLeaf(n, 1 + n, n % 2 === 0 ? "t" : "u")));
    const arena = new LeafArena(4 * 4096 + 12 * 160, 4096);
    leaves.forEach((leaf, n) => expect(arena.add(`k${n}`, leaf)).toBe(true));
    leaves.forEach((leaf, n) => {
      if (!arena.has(`k${n}`)) return;
      leaf.keys.forEach((key, i) => expect(arena.lookup(`k${n}`, leaf.tag, key)).toEqual(leaf.valueAt(i)));
      for (const absent of ["", "key-", `${leaf.keys[0]!}~`, "zzz"]) expect(arena.lookup(`k${n}`, leaf.tag, absent)).toBeUndefined();
      expect(arena.lookup(`k${n}`, leaf.tag === "t" ? "u" : "t", leaf.keys[0]!)).toBe(NOT_HELD);
    });
    expect(arena.lookup("nothing", "t", "key-0000-000")).toBe(NOT_HELD);
    // A value read in place is the caller's: changing it changes nothing held.
    const first = arena.lookup("k0", "t", leaves[0]!.keys[0]!) as { key: string };
    first.key = "changed";
    expect(arena.lookup("k0", "t", leaves[0]!.keys[0]!)).toEqual(leaves[0]!.valueAt(0));
  });

  it("finds where values end as reads reach them, keeps what they found across segment turns, and reads every value right in any order", async () => {
    const leaves = await Promise.all(Array.from({ length: 16 }, (_, n) => numberedLeaf(n, 1 + ((n * 5) % 11))));
    const expected = leaves.map(contents);
    const op = fc.oneof(
      fc.record({ add: fc.nat(leaves.length - 1) }),
      fc.record({ lookup: fc.nat(leaves.length - 1), at: fc.nat(20) }),
      fc.record({ get: fc.nat(leaves.length - 1) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 200 }), async (ops) => {
        // Fresh leaves each run, their ends not found yet: the arena's records start with none.
        const fresh = await Promise.all(leaves.map(async (leaf) => (await decodeTreeNode(...(await blockOf(leaf)))) as EncodedLeaf));
        const arena = new LeafArena(3 * 2048 + 4 * 160, 2048);
        for (const step of ops) {
          if ("add" in step) {
            arena.add(`k${step.add}`, fresh[step.add]!);
          } else if ("lookup" in step) {
            const { keys, values } = expected[step.lookup]!;
            const i = step.at % keys.length;
            const read = arena.lookup(`k${step.lookup}`, "t", keys[i]!);
            if (read !== NOT_HELD) expect(read).toEqual(values[i]);
          } else {
            const leaf = arena.get(`k${step.get}`);
            if (leaf) expect(contents(leaf)).toEqual(expected[step.get]);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("refuses a segment size that is not a multiple of 4", () => {
    expect(() => new LeafArena(4096, 1023)).toThrow(RangeError);
  });
});
