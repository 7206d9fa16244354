// Runs in front of the ledger's trees (`ledger/layered-tree.ts`): the Bloom
// filter they skip by, reads through them against a state that only folds,
// and a ledger whose random-id writes go through them across reopens.
import fc from "fast-check";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CID } from "multiformats/cid";
import { createEvent, type Op } from "../src/crdt/event.js";
import { open } from "../src/index.node.js";
import { BloomFilter } from "../src/ledger/bloom.js";
import { KeyFilter } from "../src/ledger/key-filter.js";
import { openFileStore } from "../src/store/file.js";
import { local } from "../src/ledger/keys.js";
import { NodeCache } from "../src/ledger/node-cache.js";
import { buildRun, lookupThrough, openRun, runRecord, RunMerge } from "../src/ledger/layered-tree.js";
import { decodeDagCbor, EncodedCbor } from "../src/codec/cbor.js";
import { META_KEY, keyFilterKey } from "../src/ledger/keys.js";
import { encodeCheckpoint, LedgerState, LOCAL_TAG, STATE_TAG, type Checkpoint } from "../src/ledger/state.js";
import { ProllyTree } from "../src/crdt/prolly.js";
import { nodeKey } from "../src/ledger/node-cache.js";
import { openMemoryStore } from "../src/store/memory.js";
import { expectCode } from "./helpers/expect-code.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("Bloom filter", () => {
  it("never says no for a key it holds", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 40 }), { maxLength: 300 }), (keys) => {
        const filter = BloomFilter.decode(BloomFilter.of(keys, keys.length).bytes);
        for (const key of keys) expect(filter.has(key)).toBe(true);
      }),
    );
  });

  it("says yes for few keys it does not hold (~0.05 %)", () => {
    const filter = BloomFilter.of(Array.from({ length: 10_000 }, (_, i) => `doc-${i}`), 10_000);
    let yes = 0;
    for (let i = 0; i < 10_000; i++) if (filter.has(`other-${i}`)) yes++;
    expect(yes).toBeLessThan(30);
  });

  it("sets exactly the bits the stored format defines (probe i at (h1 + i·h2 + …) mod bits), so filters written before read the same", () => {
    // The format, written out plainly: the filter's integer-only arithmetic must agree with it bit for bit.
    const reference = (keys: string[], count: number): Uint8Array => {
      const bytes = new Uint8Array(BloomFilter.byteLength(count));
      bytes[0] = 11;
      const bits = (bytes.length - 1) * 8;
      for (const key of keys) {
        let a = 0x811c9dc5;
        let b = 0x9e3779b9 ^ key.length;
        for (let i = 0; i < key.length; i++) {
          const c = key.charCodeAt(i);
          a = Math.imul(a ^ c, 0x01000193);
          b = Math.imul(b ^ c, 0x5bd1e995);
          b ^= b >>> 15;
        }
        b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
        let h1 = a;
        let h2 = (b ^ (b >>> 16)) | 1;
        for (let i = 0; i < 11; i++) {
          const bit = (h1 >>> 0) % bits;
          bytes[1 + (bit >>> 3)]! |= 1 << (bit & 7);
          h1 = (h1 + h2) | 0;
          h2 = (h2 + i) | 0;
        }
      }
      return bytes;
    };
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 30 }), { maxLength: 200 }), fc.integer({ min: 0, max: 5_000 }), (keys, count) => {
        expect(BloomFilter.of(keys, count).bytes).toEqual(reference(keys, count));
      }),
    );
  });

  it("refuses bytes that are not a filter", async () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array([0, 1]), new Uint8Array([200, 1])]) {
      await expectCode(Promise.resolve().then(() => BloomFilter.decode(bytes)), "INTEGRITY");
    }
  });
});

describe("key filter", () => {
  it("never says no for a key it holds, as it grows in stages, is stored and is read back", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 20 }), { maxLength: 400 }), fc.integer({ min: 0, max: 12_000 }), (keys, extra) => {
        const filter = KeyFilter.empty();
        const all = [...keys, ...Array.from({ length: extra }, (_, i) => `extra-${i}`)];
        for (const key of all) filter.add(key);
        let n = 0;
        const plan = filter.plan(() => n++);
        plan.written();
        expect(filter.plan(() => n++).put).toEqual([]); // nothing changed since
        const reopened = KeyFilter.open(plan.stages.map((record) => ({ record, bytes: plan.put.find(([k]) => k === record.n)![1] })));
        for (const key of all) {
          expect(filter.has(key)).toBe(true);
          expect(reopened.has(key)).toBe(true);
        }
        expect(reopened.keys).toBe(filter.keys);
      }),
      { numRuns: 20 },
    );
  });

  it("writes only the stages that changed, and says yes for few keys it does not hold", () => {
    const filter = KeyFilter.empty();
    for (let i = 0; i < 30_000; i++) filter.add(`doc-${i}`);
    let n = 0;
    const first = filter.plan(() => n++);
    expect(first.stages.length).toBe(3); // 8,192 + 16,384 + 32,768
    first.written();
    filter.add("one-more");
    expect(filter.plan(() => n++).put.map(([k]) => k)).toEqual([3]); // the newest stage only
    let yes = 0;
    for (let i = 0; i < 30_000; i++) if (filter.has(`other-${i}`)) yes++;
    expect(yes).toBeLessThan(150); // < 0.5 % (three stages at sixteen bits a key; it was < 2 % at twelve)
  });

  it("holds run keys too, writes a stored stage again for a tree key only, and every record it wrote holds the tree keys added before it", () => {
    const op = fc.oneof(
      // A key of its own, or the last run's (the tree takes what a run held, as a merge does).
      { arbitrary: fc.record({ t: fc.constant("tree" as const), key: fc.nat(1_000_000), ofLastRun: fc.boolean() }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant("run" as const), key: fc.nat(1_000_000), many: fc.constant(0) }), weight: 3 },
      // Enough keys to fill a stage and open the next.
      { arbitrary: fc.record({ t: fc.constant("run" as const), key: fc.nat(1_000_000), many: fc.constant(8_200) }), weight: 1 },
      { arbitrary: fc.record({ t: fc.constant("checkpoint" as const), durable: fc.constantFrom(true, true, false) }), weight: 3 },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 24 }), (ops) => {
        const filter = KeyFilter.empty(undefined, 5);
        expect(filter.runsFrom).toBe(5);
        const records = new Map<number, Uint8Array>();
        let n = 0;
        let runs = 0;
        let lastRunKey: string | undefined;
        const added = new Set<string>();
        let treeKeys: string[] = [];
        let checkpointed: { stages: Array<{ n: number; keys: number }>; treeKeys: string[] } | undefined;
        for (const o of ops) {
          if (o.t === "tree") {
            const key = o.ofLastRun && lastRunKey !== undefined ? lastRunKey : `k-${o.key}`;
            filter.add(key);
            added.add(key);
            treeKeys.push(key);
          } else if (o.t === "run") {
            runs++;
            lastRunKey = `k-${o.key}`;
            for (const key of [lastRunKey, ...Array.from({ length: o.many }, (_, i) => `r-${runs}-${i}`)]) {
              filter.add(key, true);
              added.add(key);
            }
          } else {
            const plan = filter.plan(() => n++);
            for (const [record, bytes] of plan.put) records.set(record, bytes);
            if (o.durable) {
              plan.written();
              checkpointed = { stages: plan.stages, treeKeys };
              treeKeys = [...treeKeys];
            }
          }
        }
        for (const key of added) expect(filter.has(key)).toBe(true);
        if (checkpointed) {
          const reopened = KeyFilter.open(checkpointed.stages.map((record) => ({ record, bytes: records.get(record.n)! })));
          for (const key of checkpointed.treeKeys) expect(reopened.has(key)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
    // Run keys alone do not make a checkpoint write a stage it stored; a tree key does.
    const filter = KeyFilter.empty();
    filter.add("tree-1");
    let n = 0;
    filter.plan(() => n++).written();
    filter.add("run-1", true);
    expect(filter.plan(() => n++).put).toEqual([]);
    filter.add("run-1"); // the tree takes it, already "maybe here": its stage is written again all the same
    expect(filter.plan(() => n++).put.map(([k]) => k)).toEqual([1]);
  });

  it("covers only the keys it is told to; others are always maybe", () => {
    const filter = KeyFilter.empty(local.lookedUp);
    filter.add(local.lastChange("a"));
    filter.add(local.change(7));
    expect(filter.has(local.lastChange("a"))).toBe(true);
    expect(filter.has(local.lastChange("b"))).toBe(false);
    expect(filter.has(local.change(8))).toBe(true);
    expect(filter.keys).toBe(1);
  });

  it("reads stages stored at twelve bits a key, and makes its new stages at sixteen", () => {
    // A first stage as key filters stored it before: 8,192 keys' capacity, twelve bits a key (8 probes).
    const old = BloomFilter.empty(8_192, 12);
    const oldKeys = Array.from({ length: 8_192 }, (_, i) => `old-${i}`);
    for (const key of oldKeys) old.add(key);
    expect(old.bytes.length).toBe(1 + (8_192 * 12) / 8);
    const filter = KeyFilter.open([{ record: { n: 0, keys: 8_192 }, bytes: old.bytes }]);
    for (const key of oldKeys) expect(filter.has(key)).toBe(true);
    filter.add("new-key");
    const plan = filter.plan(() => 1);
    expect(plan.stages).toEqual([{ n: 0, keys: 8_192 }, { n: 1, keys: 1 }]);
    expect(plan.put[0]![1].length).toBe(1 + (16_384 * 16) / 8);
    const reopened = KeyFilter.open([{ record: plan.stages[0]!, bytes: old.bytes }, { record: plan.stages[1]!, bytes: plan.put[0]![1] }]);
    for (const key of [...oldKeys, "new-key"]) expect(reopened.has(key)).toBe(true);
  });

  it("refuses a stage whose bits do not fit it", async () => {
    const filter = KeyFilter.empty();
    filter.add("a");
    const plan = filter.plan(() => 0);
    const [record] = plan.stages;
    await expectCode(Promise.resolve().then(() => KeyFilter.open([{ record: record!, bytes: new Uint8Array(50).fill(3) }])), "INTEGRITY");
    await expectCode(Promise.resolve().then(() => KeyFilter.open([{ record: { ...record!, keys: 1e6 }, bytes: plan.put[0]![1] }])), "INTEGRITY");
  });
});

const AUTHOR = new Uint8Array(32).fill(7);

/** A checkpoint record of `state`'s trees as they are (what the ledger marks after writing one). */
function checkpointOf(state: LedgerState): Checkpoint {
  return {
    v: 1, events: state.events, seq: state.seq, lamport: state.lamport, heads: state.heads(),
    state: state.stateTree.root, local: state.localTree.root, localTag: LOCAL_TAG, ix: {},
  };
}

/** Applies to `state`, one event per call, a write of each of `ids` (each event the child of the last). */
function writer(state: LedgerState): (ids: string[]) => Promise<void> {
  let parents: CID[] = [];
  let lamport = 0;
  return async (ids) => {
    const event = await createEvent(parents, ++lamport, ids.map((i) => ({ i, d: { v: lamport }, s: [] })), AUTHOR);
    await state.apply(event);
    parents = [event.cid];
  };
}

/** One state that spills into runs and merges them in slices, one that only folds; both fed the same events. */
async function pair(): Promise<{ runs: LedgerState; plain: LedgerState }> {
  const make = async (): Promise<LedgerState> => {
    const store = await openMemoryStore(`memory://runs-${Math.random()}`);
    return LedgerState.load(store, new NodeCache(store));
  };
  return { runs: await make(), plain: await make() };
}

/** Runs of the spills-and-merges property (`HEARTH_RUNS_PROP_RUNS` raises it for a longer campaign). */
const RUNS_PROP_RUNS = Number(process.env.HEARTH_RUNS_PROP_RUNS ?? 60);

/** A step of the spills-and-merges property. */
const runStep = fc.oneof(
  fc.record({ t: fc.constant("write" as const), ops: fc.array(fc.record({ id: fc.nat(60), del: fc.boolean(), v: fc.nat(9) }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ t: fc.constant("spill" as const), state: fc.boolean(), local: fc.boolean() }),
  fc.record({ t: fc.constant("mergeSome" as const), max: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ t: fc.constant("fold" as const) }),
  fc.record({ t: fc.constant("judge" as const) }),
  fc.record({ t: fc.constant("filters" as const), max: fc.integer({ min: 1, max: 40 }) }),
  // As the ledger does: a checkpoint of the trees as they are, and close's putting back of half a merge.
  fc.record({ t: fc.constant("checkpointed" as const) }),
  fc.record({ t: fc.constant("abandon" as const) }),
  fc.record({ t: fc.constant("close" as const) }),
);

/** What {@link runStep} generates. */
type RunStep = typeof runStep extends fc.Arbitrary<infer T> ? T : never;

/**
 * Writes 6,000 documents (named by `id`, in order) and then 1,500 scattered
 * changes among them through `write`, folding and judging `runs` after
 * each: its trees come out judged scattered, with a key filter in the
 * making (a judgement needs 1,000 changes).
 */
async function judgedScattered(runs: LedgerState, write: (ids: string[]) => Promise<void>, id: (n: number) => string): Promise<void> {
  await write(Array.from({ length: 6_000 }, (_, n) => id(n)));
  await runs.fold();
  await runs.judgeFolds();
  await write(Array.from({ length: 1_500 }, (_, k) => id((k * 7_919) % 6_000)));
  await runs.fold();
  await runs.judgeFolds();
  expect(runs.buildingKeyFilters).toBe(true);
}

/**
 * Feeds `steps` to a state that spills and merges and to one that only
 * folds, checking after each that every key reads the same, and at the end
 * that both trees are the same. `scattered`: both start from 6,000
 * documents and 1,500 scattered changes folded and judged, so the first
 * state's trees are judged scattered and get key filters (a judgement
 * needs 1,000 changes, which the steps alone never make).
 */
async function spillsAndMerges(steps: readonly RunStep[], scattered: boolean): Promise<void> {
  const { runs, plain } = await pair();
  let parents: CID[] = [];
  let lamport = 0;
  const apply = async (ops: Op[]): Promise<void> => {
    const event = await createEvent(parents, ++lamport, ops, AUTHOR);
    await runs.apply(event);
    await plain.apply(event);
    parents = [event.cid];
  };
  // With a few never written: lookups of absent keys go through the key filters.
  const ids = new Set<string>(["never-1", "never-2", "id-1000"]);
  if (scattered) {
    const base = (n: number): string => `base-${String(n).padStart(6, "0")}`;
    let round = 0;
    const writeRound = async (keys: string[]): Promise<void> => {
      await apply(keys.map((i) => ({ i, d: { v: round }, s: [] })));
      round++;
    };
    await judgedScattered(runs, writeRound, base);
    for (const k of [0, 1_234, 5_999]) ids.add(base(k));
  }
  for (const s of steps) {
    if (s.t === "write") {
      const ops: Op[] = [];
      const seen = new Set<string>();
      for (const { id, del, v } of s.ops) {
        const key = `id-${(id * 2654435761) % 997}`; // scattered keys
        if (seen.has(key)) continue;
        seen.add(key);
        ids.add(key);
        ops.push({ i: key, d: del ? null : { v }, s: [] }); // superseding nothing: writes pile up as conflicts, on both alike
      }
      await apply(ops);
    } else if (s.t === "spill") {
      await runs.spill({ state: s.state, local: s.local });
    } else if (s.t === "mergeSome") {
      await runs.foldSome(s.max);
    } else if (s.t === "judge") {
      await runs.judgeFolds(); // may drop a tree's key filter, or start making one
    } else if (s.t === "filters") {
      await runs.buildKeyFiltersSome(scattered ? s.max * 200 : s.max); // a filter in the making, used once done
    } else if (s.t === "checkpointed") {
      runs.markCheckpointed(checkpointOf(runs));
    } else if (s.t === "abandon") {
      runs.abandonMerge();
    } else if (s.t === "close") {
      await runs.spill(undefined, true); // spills or folds each overlay, as it judges
    } else {
      await runs.fold();
    }
    for (const id of ids) {
      expect(await runs.register(id)).toEqual(await plain.register(id));
      expect(await runs.localGet(local.lastChange(id))).toEqual(await plain.localGet(local.lastChange(id)));
    }
  }
  // Filters made to the end are used: reads stay the same.
  await runs.buildKeyFiltersSome(1e9);
  for (const id of ids) {
    expect(await runs.register(id)).toEqual(await plain.register(id));
    expect(await runs.localGet(local.lastChange(id))).toEqual(await plain.localGet(local.lastChange(id)));
  }
  await runs.fold();
  await plain.fold();
  expect(runs.stateRuns.length + runs.localRuns.length).toBe(0);
  expect(runs.stateTree.root.toString()).toBe(plain.stateTree.root.toString());
  expect(runs.localTree.root.toString()).toBe(plain.localTree.root.toString());
}

describe("reads through runs", () => {
  it("a state that spills and merges reads exactly as one that folds, and ends on the same roots", { timeout: Math.max(60_000, RUNS_PROP_RUNS * 20) }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(runStep, { minLength: 1, maxLength: 40 }), (steps) => spillsAndMerges(steps, false)),
      { numRuns: RUNS_PROP_RUNS },
    );
  });

  it("the same from trees judged scattered, whose key filters answer for them and for runs (closes among the steps)", { timeout: Math.max(120_000, RUNS_PROP_RUNS * 1_000) }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(runStep, { minLength: 1, maxLength: 40 }), (steps) => spillsAndMerges(steps, true)),
      { numRuns: Math.max(1, Math.round(RUNS_PROP_RUNS / 6)) },
    );
  });
});

describe("putting back half a merge", () => {
  it("is refused once an earlier merge ended since the checkpoint, or a spill made a run", async () => {
    const { runs, plain } = await pair();
    let parents: CID[] = [];
    const write = async (from: number): Promise<void> => {
      const ops: Op[] = Array.from({ length: 30 }, (_, k) => ({ i: `doc-${(from + k) * 7919 % 1000}`, d: { v: from + k }, s: [] }));
      const event = await createEvent(parents, parents.length + 1, ops, AUTHOR);
      parents = [event.cid];
      await runs.apply(event);
      await plain.apply(event);
    };
    const same = async (): Promise<void> => {
      for (let i = 0; i < 1000; i++) expect(await runs.register(`doc-${i}`)).toEqual(await plain.register(`doc-${i}`));
    };
    await write(0);
    await runs.spill({ state: true, local: true }); // runs A
    runs.markCheckpointed(checkpointOf(runs));
    await runs.foldSome(5); // merge P0 of A begins
    await write(100);
    await runs.spill({ state: true, local: true }); // runs B
    expect(runs.abandonMerge()).toBe(false); // a run was made since the checkpoint
    runs.markCheckpointed(checkpointOf(runs)); // records trees half-merged with A, runs A and B
    while (runs.stateRuns.length === 2) await runs.foldSome(5); // P0 ends: A is gone
    await runs.foldSome(5); // P1 of B begins
    expect(runs.abandonMerge()).toBe(false); // putting the trees back would lose what P0 merged after the checkpoint
    await same();
  });
});

describe("a close", () => {
  it("folds an overlay that falls into few leaves (ids in order), and spills one spread over the tree", async () => {
    const { runs: state } = await pair();
    const write = writer(state);
    const inOrder = (from: number, n: number): string[] => Array.from({ length: n }, (_, k) => `doc-${String(from + k).padStart(6, "0")}`);
    await write(inOrder(0, 20_000));
    await state.fold();
    // Appended ids, too few changes since the last judgement to judge: folded at close.
    await write(inOrder(20_000, 2_000));
    await state.spill(undefined, true);
    expect([state.stateRuns.length, state.localRuns.length]).toEqual([0, 0]);
    // Ids spread over the whole tree: a run each.
    await write(Array.from({ length: 2_000 }, (_, k) => `doc-${String((k * 7_919) % 22_000).padStart(6, "0")}x`));
    await state.spill(undefined, true);
    expect([state.stateRuns.length, state.localRuns.length]).toEqual([1, 1]);
    // With runs already there, a close spills again rather than merging them.
    await write(inOrder(22_000, 1_000));
    await state.spill(undefined, true);
    expect(state.stateRuns.length).toBe(2);
  });
});

describe("a close under a key filter", () => {
  it("spills a run the filter leaves to its own Bloom filter: its documents read back, and writing them again finds them", async () => {
    const { runs, plain } = await pair();
    const both = { runs: writer(runs), plain: writer(plain) };
    const write = async (ids: string[]): Promise<void> => {
      await both.runs(ids);
      await both.plain(ids);
    };
    const id = (n: number): string => `doc-${String(n).padStart(6, "0")}`;
    // A tree judged scattered, so a key filter is made.
    await judgedScattered(runs, write, id);
    while (runs.buildingKeyFilters) await runs.buildKeyFiltersSome(500);
    // New documents, spread over the tree, spilled by a close: the filter never sees their keys.
    const fresh = Array.from({ length: 300 }, (_, k) => `${id((k * 7_919) % 6_000)}-new`);
    await write(fresh);
    await runs.spill(undefined, true);
    expect(runs.stateRuns.length).toBe(1);
    for (const doc of fresh) {
      expect(await runs.register(doc)).toEqual(await plain.register(doc));
      expect(await runs.localGet(local.lastChange(doc))).toEqual(await plain.localGet(local.lastChange(doc)));
    }
    // Written again (the state goes on, as the property above lets it): each write finds the register and last change it replaces.
    await write(fresh);
    await runs.fold();
    await plain.fold();
    expect(runs.stateTree.root.toString()).toBe(plain.stateTree.root.toString());
    expect(runs.localTree.root.toString()).toBe(plain.localTree.root.toString());
  });
});

describe("a close with twice MAX_RUNS runs", () => {
  it("adds its run and merges the smallest neighbouring pair, instead of folding every run; reads as before", async () => {
    const { runs, plain } = await pair();
    let parents: CID[] = [];
    let lamport = 0;
    const ids = new Set<string>();
    const write = async (ops: Op[]): Promise<void> => {
      const event = await createEvent(parents, ++lamport, ops, AUTHOR);
      parents = [event.cid];
      for (const op of ops) ids.add(op.i);
      await runs.apply(event);
      await plain.apply(event);
    };
    const scattered = (round: number, n: number): string[] => Array.from({ length: n }, (_, k) => `doc-${((round * 40 + k) * 7_919) % 5_000}`);
    const same = async (): Promise<void> => {
      for (const id of ids) {
        expect(await runs.register(id)).toEqual(await plain.register(id));
        expect(await runs.localGet(local.lastChange(id))).toEqual(await plain.localGet(local.lastChange(id)));
      }
    };
    // Runs of 40 changes, but the 11th and 12th (index 20 and 21 from the newest once all are made) of 5: the smallest pair.
    for (let round = 0; round < 32; round++) {
      const n = round === 10 || round === 11 ? 5 : 40;
      await write(scattered(round, n).map((i) => ({ i, d: { v: round }, s: [] })));
      await runs.spill({ state: true, local: true });
    }
    expect([runs.stateRuns.length, runs.localRuns.length]).toEqual([32, 32]);
    const trees = [runs.stateTree.root.toString(), runs.localTree.root.toString()];
    const small = [runs.stateRuns[20]!, runs.stateRuns[21]!];
    expect(small.map((r) => r.entries)).toEqual([5, 5]);
    // Keys of the newest run written again and deleted, and new ones: the close's overlay.
    const newest = scattered(31, 40);
    await write([...newest.slice(0, 10).map((i) => ({ i, d: { v: 100 }, s: [] })), ...newest.slice(10, 20).map((i) => ({ i, d: null, s: [] }))]);
    await write(scattered(40, 30).map((i) => ({ i, d: { v: 101 }, s: [] })));
    await runs.spill(undefined, true);
    expect([runs.stateRuns.length, runs.localRuns.length]).toEqual([32, 32]); // nothing folded; one run more, two runs as one
    expect([runs.stateTree.root.toString(), runs.localTree.root.toString()]).toEqual(trees);
    expect(runs.stateRuns).not.toContain(small[0]);
    expect(runs.stateRuns).not.toContain(small[1]);
    expect(runs.stateRuns[21]!.entries).toBe(10); // the pair, as one run (older of the two now at index 21: a new run in front)
    await same();
    for (let round = 50; round < 60; round++) {
      await write(scattered(round, 25).map((i) => ({ i, d: round % 2 === 0 ? null : { v: round }, s: [] })));
      await runs.spill(undefined, true);
      expect(runs.stateRuns.length).toBe(32);
      await same();
    }
    await runs.fold();
    await plain.fold();
    expect(runs.stateTree.root.toString()).toBe(plain.stateTree.root.toString());
    expect(runs.localTree.root.toString()).toBe(plain.localTree.root.toString());
  });
});

describe("the judgement of folds", () => {
  it("counts folds of the overlay only: merging runs back leaves scattered writes judged scattered", async () => {
    const { runs: state } = await pair();
    const write = writer(state);
    const id = (n: number): string => `doc-${String(n).padStart(6, "0")}`;
    await write(Array.from({ length: 20_000 }, (_, k) => id(k)));
    await state.fold();
    await state.judgeFolds();
    expect(state.checkpointPlan()).toBe("fold"); // ids in order
    const scattered = (round: number): string[] => Array.from({ length: 2_000 }, (_, k) => id(((k + round * 2_000) * 7_919) % 20_000));
    await write(scattered(0));
    await state.fold();
    await state.judgeFolds();
    expect(state.checkpointPlan()).toBe("spill");
    for (let round = 1; round <= 8; round++) {
      await write(scattered(round));
      await state.spill();
    }
    expect(state.stateRuns.length).toBe(8);
    // Merged back: 16,000 changes into 20,000 documents, dense, so cheap per change.
    while (state.stateRuns.length + state.localRuns.length > 0) await state.foldSome(5_000);
    await state.judgeFolds();
    expect(state.checkpointPlan()).toBe("spill");
  });
});

describe("a ledger written at random ids", () => {
  it("spills into runs, and reads, reopens, queries and merges them back with nothing lost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hearth-runs-"));
    dirs.push(dir);
    const options = { store: `file://${dir}/db`, keyring: `file://${dir}/keyring` };
    const id = (i: number): string => `r-${((i * 2654435761) >>> 0).toString(16).padStart(8, "0")}`;
    const model = new Map<string, number | null>();
    let db = await open("runs", options);
    // Enough random-id changes for several checkpoints: the first folds (and finds its fold
    // scattered), the next ones spill.
    for (let batch = 0; batch < 40; batch++) {
      const docs = Array.from({ length: 2_000 }, (_, k) => ({ _id: id(batch * 2_000 + k), n: batch * 2_000 + k }));
      await db.bulk(docs);
      for (const doc of docs) model.set(doc._id, doc.n);
      if (batch % 5 === 4) {
        // Updates and deletes of earlier documents, which runs hold by now.
        for (let k = 0; k < 50; k++) {
          const target = id((batch * 1_000 + k * 37) % (batch * 2_000));
          if (k % 2 === 0) {
            await db.put({ _id: target, n: -(k + 1) });
            model.set(target, -(k + 1));
          } else if (model.get(target) !== null) {
            await db.del(target);
            model.set(target, null);
          }
        }
      }
    }
    const check = async (): Promise<void> => {
      for (const [key, n] of model) {
        if (n === null) await expectCode(db.get(key), "NOT_FOUND");
        else expect((await db.get(key)).n).toBe(n);
      }
    };
    await check();
    // A crash now: a copy of the files as they are, with the ledger still open (its runs and
    // overlay as a kill would find them), must open with every acknowledged write.
    cpSync(dir, `${dir}-crash`, { recursive: true });
    dirs.push(`${dir}-crash`);
    const crashed = await open("runs-crash", { store: `file://${dir}-crash/db`, keyring: `file://${dir}-crash/keyring` });
    for (const [key, n] of model) {
      if (n === null) await expectCode(crashed.get(key), "NOT_FOUND");
      else expect((await crashed.get(key)).n).toBe(n);
    }
    await crashed.close();
    await db.close(); // spills what is not in the trees yet
    db = await open("runs", options);
    await check();
    const live = [...model].filter(([, n]) => n !== null);
    // Range reads merge the runs first.
    const rows = (await db.allDocs()).rows;
    expect(rows.map((r) => r.key)).toEqual(live.map(([key]) => key).sort());
    expect(rows.every((r) => (r.value as unknown as { n: number }).n === model.get(r.key))).toBe(true);
    const changes = (await db.changes()).rows.map((r) => r.key);
    expect(new Set(changes).size).toBe(changes.length);
    expect(changes.filter((key) => model.get(key) !== null).sort()).toEqual(live.map(([key]) => key).sort());
    const negative = (await db.query("n", { range: [-100, -1] })).rows.length;
    expect(negative).toBe(live.filter(([, n]) => n! < 0).length);
    const root = await db.root();
    await db.close();
    db = await open("runs", options);
    expect(await db.root()).toBe(root);
    await check();
    await db.close();
    // Key filter stages superseded by later checkpoints were deleted with them: what is left is
    // at most the two trees' filters (~80,000 keys each: stages of 8,192 … 65,536 keys).
    const store = await openFileStore(join(dir, "db"));
    const stages = await store.list("kf/");
    await store.close();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.length).toBeLessThanOrEqual(8);
  }, 120_000);
});

describe("a key filter that stopped taking runs", () => {
  it("leaves the runs from there on to their own filters: a key only they hold is found, an absent one is not", async () => {
    const store = await openMemoryStore(`memory://runs-stop-${Math.random()}`);
    const nodes = new NodeCache(store);
    const sorted = (keys: string[]): Array<[string, unknown]> => keys.sort().map((key) => [key, key.length]);
    const main = await ProllyTree.empty(STATE_TAG, nodes);
    nodes.addPending(main.created);
    const filter = KeyFilter.empty(undefined, 0);
    const taken = sorted(Array.from({ length: 300 }, (_, i) => `taken-${i}`));
    const { run: older, created: olderNodes } = await buildRun(STATE_TAG, 0, taken, nodes);
    nodes.addPending(olderNodes);
    for (const [key] of taken) filter.add(key, true);
    // A close's run: its keys never reach the filter.
    filter.stopTakingRuns(1);
    expect(filter.runsBefore).toBe(1);
    const closing = sorted(Array.from({ length: 300 }, (_, i) => `closing-${i}`));
    const { run: newer, created: newerNodes } = await buildRun(STATE_TAG, 1, closing, nodes);
    nodes.addPending(newerNodes);
    for (const [key, value] of [...taken, ...closing]) expect(await lookupThrough([newer, older], main.tree, key, filter)).toBe(value);
    expect(await lookupThrough([newer, older], main.tree, "absent", filter)).toBeUndefined();
    // Without the bound the filter would answer for run 1 too, and lose its keys.
    const unbounded = KeyFilter.empty(undefined, 0);
    for (const [key] of taken) unbounded.add(key, true);
    expect(await lookupThrough([newer, older], main.tree, "closing-7", unbounded)).toBeUndefined();
  });
});

describe("a run of the local tree", () => {
  it("leaves the change feed out of its Bloom filter, and still finds every key it holds, recorded and reopened too", async () => {
    const store = await openMemoryStore(`memory://runs-local-${Math.random()}`);
    const nodes = new NodeCache(store);
    const changes: Array<[string, unknown]> = [];
    for (let i = 0; i < 2_000; i++) changes.push([local.lastChange(`doc-${i}`), i], [local.change(i), `doc-${i}`]);
    changes.sort(([a], [b]) => (a < b ? -1 : 1));
    const { run: all } = await buildRun(LOCAL_TAG, 0, changes, nodes);
    const { run, created } = await buildRun(LOCAL_TAG, 1, changes, nodes, local.lookedUp);
    nodes.addPending(created);
    // Sized for the 2,000 keys looked up, not the 4,000 it holds.
    expect(run.bloom.bytes.length).toBe(BloomFilter.byteLength(2_000));
    expect(run.bloom.bytes.length).toBeLessThan(all.bloom.bytes.length * 0.55);
    const main = await ProllyTree.empty(LOCAL_TAG, nodes);
    nodes.addPending(main.created);
    const reopened = openRun(LOCAL_TAG, runRecord(run), nodes, local.lookedUp);
    for (const r of [run, reopened]) {
      for (const i of [0, 1, 999, 1_999]) {
        expect(await lookupThrough([r], main.tree, local.lastChange(`doc-${i}`))).toBe(i);
        // Not in the filter, found all the same.
        expect(await lookupThrough([r], main.tree, local.change(i))).toBe(`doc-${i}`);
      }
      expect(await lookupThrough([r], main.tree, local.lastChange("absent"))).toBeUndefined();
      expect(await lookupThrough([r], main.tree, local.change(5_000))).toBeUndefined();
    }
  });
});

describe("a merge of runs", () => {
  it("hands on stored values as their bytes, newest run winning and deletions as undefined, and the tree it writes is the one plain values make", async () => {
    const store = await openMemoryStore(`memory://runs-encoded-${Math.random()}`);
    const nodes = new NodeCache(store);
    const doc = (n: number, text: string) => ({ w: { l: n, e: new Uint8Array([n & 0xff, 7]), d: { _id: `d${n}`, text, tags: [text, n] } } });
    const older = Array.from({ length: 600 }, (_, i) => [`k${String(i).padStart(4, "0")}`, doc(i, "older ü")] as [string, unknown]);
    // The newer run rewrites every third key, deletes every fifth, and adds keys of its own.
    const newer: Array<[string, unknown]> = [];
    for (let i = 0; i < 700; i++) {
      if (i % 15 === 0) newer.push([`k${String(i).padStart(4, "0")}`, undefined]);
      else if (i % 3 === 0 || i >= 600) newer.push([`k${String(i).padStart(4, "0")}`, doc(i + 1000, "newer")]);
    }
    const { run: oldRun, created: oldNodes } = await buildRun(STATE_TAG, 0, older, nodes);
    const { run: newRun, created: newNodes } = await buildRun(STATE_TAG, 1, newer, nodes);
    nodes.addPending([...oldNodes, ...newNodes]);
    const merged = await (await RunMerge.of([newRun, oldRun])).next(10_000);

    const expected = new Map<string, unknown>(older);
    for (const [key, value] of newer) expected.set(key, value);
    const plain = [...expected].sort(([a], [b]) => (a < b ? -1 : 1));
    expect(merged.map(([key]) => key)).toEqual(plain.map(([key]) => key));
    for (let i = 0; i < merged.length; i++) {
      const value = merged[i]![1];
      if (plain[i]![1] === undefined) expect(value).toBeUndefined();
      else {
        expect(value).toBeInstanceOf(EncodedCbor);
        expect(decodeDagCbor((value as EncodedCbor).bytes)).toEqual(plain[i]![1]);
      }
    }
    const empty = await ProllyTree.empty(STATE_TAG, nodes);
    nodes.addPending(empty.created);
    const base = empty.tree;
    const fromBytes = await base.mutate(merged);
    const fromValues = await base.mutate(plain);
    expect(fromBytes.tree.root.toString()).toBe(fromValues.tree.root.toString());
  });

  it("checkpoints its progress, and a copy taken at any point of it opens with every acknowledged write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hearth-merge-"));
    dirs.push(dir);
    // A small cache: a merge checkpoints its progress each time its new nodes pass half of it.
    const options = { store: `file://${dir}/db`, keyring: `file://${dir}/keyring`, cacheBytes: 1 << 20 };
    const id = (i: number): string => `m-${((i * 2654435761) >>> 0).toString(16).padStart(8, "0")}`;
    let written = 0;
    // Each close spills what is not in the trees into a run once folds turn scattered (after a
    // few rounds), even past the sixteen that make the next checkpoint merge them all.
    for (let round = 0; round < 21; round++) {
      const db = await open("merge", options);
      await db.bulk(Array.from({ length: 5_000 }, (_, k) => ({ _id: id(written + k), n: written + k })));
      written += 5_000;
      await db.close();
    }
    const db = await open("merge", options);
    // Writes enough for a checkpoint, which merges the runs in slices in the background; between
    // small writes meanwhile, copies of the files as a kill would leave them must each open with
    // everything acknowledged before them. (Traced when written: the first three copies were
    // taken mid-merge, after progress checkpoints.)
    for (let copy = 0; copy < 8; copy++) {
      for (let k = 0; k < (copy === 0 ? 10_000 : 50); k += 50, written += 50) {
        await db.bulk(Array.from({ length: 50 }, (_, j) => ({ _id: id(written + j), n: written + j })));
      }
      const at = `${dir}-copy-${copy}`;
      cpSync(dir, at, { recursive: true });
      dirs.push(at);
      const copied = await open(`merge-copy-${copy}`, { store: `file://${at}/db`, keyring: `file://${at}/keyring` });
      for (let i = 0; i < written; i += i < written - 200 ? 499 : 1) expect((await copied.get(id(i))).n).toBe(i);
      await copied.close();
    }
    const rows = (await db.allDocs()).rows;
    expect(rows.length).toBe(written);
    expect(rows.every((row) => id((row.value as unknown as { n: number }).n) === row.key)).toBe(true);
    await db.close();
  }, 300_000);
});

describe("writes during a merge of runs", () => {
  it("are spilled into runs of their own while the merge goes on, and a copy taken then opens with every acknowledged write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hearth-merge-spill-"));
    dirs.push(dir);
    const db = await open("spill", { store: `file://${dir}/db`, keyring: `file://${dir}/keyring`, cacheBytes: 1 << 20 });
    const id = (i: number): string => `s-${((i * 2654435761) >>> 0).toString(16).padStart(8, "0")}`;
    let spilledMidMerge = 0;
    const spill = LedgerState.prototype.spill;
    vi.spyOn(LedgerState.prototype, "spill").mockImplementation(function (this: LedgerState, ...args: Parameters<LedgerState["spill"]>) {
      if (this.changesSinceMergeBegan > 0 && args[1] !== true) spilledMidMerge++;
      return spill.apply(this, args);
    });
    let written = 0;
    try {
      // Random ids: folds are judged scattered, checkpoints spill, sixteen runs start a merge,
      // and the writes made while it runs are spilled in turn.
      while (spilledMidMerge === 0) {
        if (written >= 400_000) throw new Error(`no checkpoint spilled during a merge after ${written} documents`);
        await db.bulk(Array.from({ length: 1_000 }, (_, k) => ({ _id: id(written + k), n: written + k })));
        written += 1_000;
      }
    } finally {
      vi.restoreAllMocks();
    }
    const at = `${dir}-copy`;
    cpSync(dir, at, { recursive: true });
    dirs.push(at);
    const copied = await open("spill-copy", { store: `file://${at}/db`, keyring: `file://${at}/keyring` });
    for (let i = 0; i < written; i += i < written - 2_000 ? 97 : 1) expect((await copied.get(id(i))).n).toBe(i);
    await copied.close();
    // A close mid-merge puts the trees back to the last checkpoint's, the spilled runs and all.
    await db.bulk(Array.from({ length: 1_000 }, (_, k) => ({ _id: id(written + k), n: written + k })));
    written += 1_000;
    await db.close();
    const again = await open("spill", { store: `file://${dir}/db`, keyring: `file://${dir}/keyring`, cacheBytes: 1 << 20 });
    for (let i = 0; i < written; i += i < written - 2_000 ? 97 : 1) expect((await again.get(id(i))).n).toBe(i);
    expect((await again.allDocs()).rows.length).toBe(written);
    await again.close();
  }, 300_000);
});

describe("runs in the checkpoint", () => {
  /** A store holding empty trees and one run of the state tree, and the checkpoint fields naming them. */
  async function storeWithRun(): Promise<{ store: Awaited<ReturnType<typeof openMemoryStore>>; base: Checkpoint }> {
    const store = await openMemoryStore(`memory://runs-cp-${Math.random()}`);
    const nodes = new NodeCache(store);
    const state = await ProllyTree.empty(STATE_TAG, nodes);
    const localTree = await ProllyTree.empty(LOCAL_TAG, nodes);
    const register = { w: { l: 1, e: new Uint8Array([1, 2, 3]), d: { _id: "in-a-run", n: 1 } } };
    const { run, created } = await buildRun(STATE_TAG, 0, [["in-a-run", register]], nodes);
    const blocks = [...state.created, ...localTree.created, ...created];
    await store.write({ put: blocks.map((b) => [nodeKey(b.cid), b.bytes] as const) });
    const base: Checkpoint = {
      v: 2, events: 0, seq: 0, lamport: 0, heads: [], state: state.tree.root, stateTag: STATE_TAG, local: localTree.tree.root, localTag: LOCAL_TAG, ix: {},
      runs: { next: 1, state: [runRecord(run)], local: [] },
    };
    return { store, base };
  }

  it("a version-2 checkpoint's runs are read through", async () => {
    const { store, base } = await storeWithRun();
    await store.write({ put: [[META_KEY, encodeCheckpoint(base)]] });
    const state = await LedgerState.load(store, new NodeCache(store));
    expect(await state.register("in-a-run")).toMatchObject({ w: { d: { _id: "in-a-run", n: 1 } } });
    expect(await state.register("elsewhere")).toBeUndefined();
  });

  it("a version-3 checkpoint's key filter answers for its tree, and a missing or malformed stage is INTEGRITY", async () => {
    const { store, base } = await storeWithRun();
    const nodes = new NodeCache(store);
    // The main tree holds "in-the-tree", which the filter (holding only "in-the-filter") says is not there.
    const register = { w: { l: 1, e: new Uint8Array([1, 2, 3]), d: { _id: "x", n: 2 } } };
    const { tree, created } = await ProllyTree.build(STATE_TAG, [["in-the-filter", register], ["in-the-tree", register]], nodes);
    const filter = KeyFilter.empty();
    filter.add("in-the-filter");
    const plan = filter.plan(() => 5);
    await store.write({ put: [...created.map((b) => [nodeKey(b.cid), b.bytes] as const), [keyFilterKey(5), plan.put[0]![1]]] });
    const withFilter: Checkpoint = { ...base, v: 3, state: tree.root, runs: { ...base.runs!, next: 6, keys: { state: plan.stages } } };
    await store.write({ put: [[META_KEY, encodeCheckpoint(withFilter)]] });
    const state = await LedgerState.load(store, nodes);
    expect(await state.register("in-the-filter")).toMatchObject({ w: { d: { n: 2 } } });
    expect(await state.register("in-the-tree")).toBeUndefined(); // never read: the filter says no
    expect(await state.register("in-a-run")).toMatchObject({ w: { d: { n: 1 } } });

    const bad: Array<[Checkpoint, Uint8Array | undefined]> = [
      [withFilter, undefined], // its record is gone
      [withFilter, new Uint8Array(40).fill(1)], // not a stage of its size
      [{ ...withFilter, runs: { ...withFilter.runs!, next: 5 } }, plan.put[0]![1]], // numbered past next
      [{ ...withFilter, runs: { ...withFilter.runs!, keys: { state: [{ n: 5, keys: -1 }] } } }, plan.put[0]![1]],
      [{ ...withFilter, v: 2 }, plan.put[0]![1]], // key filters under version 2: a release before them would forget their records
    ];
    for (const [checkpoint, bytes] of bad) {
      await store.write(bytes ? { put: [[META_KEY, encodeCheckpoint(checkpoint)], [keyFilterKey(5), bytes]] } : { put: [[META_KEY, encodeCheckpoint(checkpoint)]], del: [keyFilterKey(5)] });
      await expectCode(LedgerState.load(store, new NodeCache(store)), "INTEGRITY");
    }
  });

  it("runs under version 1, version 2 without runs, and malformed runs are INTEGRITY", async () => {
    const { store, base } = await storeWithRun();
    const { runs, ...noRuns } = base;
    const bad: Checkpoint[] = [
      { ...base, v: 1 },
      { ...noRuns, v: 2 },
      { ...base, runs: { ...runs!, next: 0 } }, // a run numbered past next
      { ...base, runs: { ...runs!, state: [{ ...runs!.state[0]!, bloom: "x" as unknown as Uint8Array }] } },
      { ...base, runs: { next: 1, state: [], local: [] } },
      { ...base, v: 3, runs: { next: 1, state: [], local: [], scattered: { state: false, local: false } } }, // nothing to record
      { ...base, v: 3, runs: { ...runs!, scattered: { state: "yes", local: false } as unknown as { state: boolean; local: boolean } } },
      { ...base, v: 2, runs: { ...runs!, scattered: { state: true, local: false } } }, // recorded judgement under version 2
    ];
    for (const checkpoint of bad) {
      await store.write({ put: [[META_KEY, encodeCheckpoint(checkpoint)]] });
      await expectCode(LedgerState.load(store, new NodeCache(store)), "INTEGRITY");
    }
  });
});
