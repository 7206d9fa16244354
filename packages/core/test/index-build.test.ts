import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import type { MapFn } from "../src/ledger/indexes.js";
import type { Ledger } from "../src/ledger/ledger.js";
import { DEFAULT_CACHE_BYTES } from "../src/ledger/node-cache.js";
import { openLedger } from "../src/ledger/open.js";
import { SpillSort, sortByKey, type SortEntry } from "../src/ledger/spill-sort.js";
import { nodePlatform } from "../src/platform/node.js";
import { openMemoryStore } from "../src/store/memory.js";
import type { ByteStore, WriteBatch, WriteOptions } from "../src/store/types.js";

describe("SpillSort", () => {
  it("merges runs into one key order, the latest run winning a key, whatever the slice size, the last one stored or held", async () => {
    const run = fc.uniqueArray(fc.tuple(fc.string({ maxLength: 4 }), fc.integer()), {
      selector: ([key]) => key,
      maxLength: 5_000,
      size: "max", // runs of several blocks (2,048 entries each), not fast-check's small default
    });
    await fc.assert(
      fc.asyncProperty(fc.array(run, { maxLength: 6 }), fc.integer({ min: 1, max: 3_000 }), fc.boolean(), async (runs, max, held) => {
        const store = await openMemoryStore(`memory://spill-${Math.random()}`);
        const sort = new SpillSort(store, "xs/");
        const expected = new Map<string, number>();
        let last: SortEntry[] | undefined;
        for (const [i, entries] of runs.entries()) {
          const sorted = sortByKey(entries.map(([key, value]) => [key, value] as SortEntry));
          if (held && i === runs.length - 1) last = sorted;
          else await sort.addRun(sorted);
          for (const [key, value] of entries) expected.set(key, value);
        }
        const stored = (await store.list("xs/")).length;
        const merge = await sort.merge(last);
        // The held run is merged from memory, never written.
        expect((await store.list("xs/")).length).toBe(stored);
        const out: SortEntry[] = [];
        for (let slice = await merge.next(max); slice.length > 0; slice = await merge.next(max)) {
          // A slice ends early only where the runs do; it may run over `max` only to finish a key.
          expect(slice.length).toBeLessThanOrEqual(max + runs.length);
          out.push(...slice);
        }
        expect(out).toEqual([...expected].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
        await sort.clear();
        expect(await store.list("xs/")).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it("says which block the store lost", async () => {
    const store = await openMemoryStore(`memory://spill-lost-${Math.random()}`);
    const sort = new SpillSort(store, "xs/");
    await sort.addRun(sortByKey(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i] as SortEntry)));
    const [, second] = await store.list("xs/");
    await store.write({ del: [second!] });
    const merge = await sort.merge();
    await expect(merge.next(10_000)).rejects.toMatchObject({ code: "STORAGE_FAILED", message: expect.stringContaining(second!) });
  });
});

/**
 * A memory store whose writes fail from the `failAt`-th checkpoint (a write
 * with `meta`) after an index build began spilling; `spilled` tells whether
 * anything was written under `xs/`.
 */
async function flakyStore(
  url: string,
  failAt: number,
): Promise<{ store: ByteStore; failures: () => number; heal: () => void; metaWrites: () => number; spilled: () => boolean }> {
  const inner = await openMemoryStore(url);
  let metaWrites = 0;
  let spilled = false;
  let checkpoints = 0;
  let failures = 0;
  let healed = false;
  const store: ByteStore = {
    url: inner.url,
    supports: inner.supports,
    get: (key) => inner.get(key),
    list: (prefix) => inner.list(prefix),
    async write(batch: WriteBatch, options?: WriteOptions) {
      if (batch.put?.some(([key]) => key.startsWith("xs/"))) spilled = true;
      if (batch.put?.some(([key]) => key === "meta")) metaWrites++;
      if (!healed && spilled && batch.put?.some(([key]) => key === "meta") && ++checkpoints >= failAt) {
        failures++;
        throw new HearthError("STORAGE_FAILED", "injected: the disk is full");
      }
      return inner.write(batch, options);
    },
    close: () => inner.close(),
    destroy: () => inner.destroy(),
  };
  return { store, failures: () => failures, heal: () => (healed = true), metaWrites: () => metaWrites, spilled: () => spilled };
}

/**
 * A cache budget of 8 MiB: index builds hold up to a quarter of it in rows
 * (2 MiB as they estimate it) before they spill a run.
 */
const SMALL_CACHE = 8 * 1024 * 1024;

async function openOn(url: string, store: ByteStore | undefined, cacheBytes = SMALL_CACHE): Promise<Ledger> {
  const platform = store ? { ...nodePlatform, openStore: async () => store } : nodePlatform;
  return openLedger("ix", { store: url, keyring: `memory://keys-${url}`, cacheBytes }, platform);
}

// Big enough for several spilled runs under SMALL_CACHE (~20 MB of rows as a build estimates
// them): every document emits two rows, plus its `r` entry.
const DOCS = 40_000;
const docs = Array.from({ length: DOCS }, (_, i) => ({ _id: `d${String(i).padStart(5, "0")}`, n: (i * 7919) % DOCS }));
// Keys in an order unrelated to the document ids, so runs interleave.
const twoRows: MapFn = (doc, emit) => {
  emit(doc.n!);
  emit(`s${String(doc.n)}`);
};

describe("index builds bigger than memory", () => {
  it("a build spilled to the store gives every row in key order and leaves no spilled blocks", async () => {
    const url = `memory://ix-spill-${Math.random()}`;
    const db = await openOn(url, undefined);
    await db.bulk(docs);
    const { rows } = await db.query(twoRows, { index: "two" });
    expect(rows).toHaveLength(2 * DOCS);
    expect(rows.slice(0, 3).map((row) => row.key)).toEqual([0, 1, 2]);
    expect(rows[DOCS]!.key).toBe("s0");
    expect(rows.every((row, i) => i === 0 || !(compareRows(rows[i - 1]!, row) > 0))).toBe(true);
    expect(await (await openMemoryStore(url)).list("xs/")).toEqual([]);
    // Kept up to date afterwards, incrementally.
    await db.put({ _id: "d00000", n: -1 });
    expect((await db.query(twoRows, { index: "two", limit: 1 })).rows[0]).toMatchObject({ key: -1, id: "d00000" });
    await db.close();
  });

  it("a build that failed part way, in memory or across a reopen, is rebuilt from nothing", async () => {
    const url = `memory://ix-flaky-${Math.random()}`;
    // The second checkpoint of the merge fails: one partial tree is on record (at seq 0), another in memory.
    const flaky = await flakyStore(url, 2);
    const db = await openOn(url, flaky.store);
    await db.bulk(docs);
    await expect(db.query(twoRows, { index: "two" })).rejects.toMatchObject({ code: "STORAGE_FAILED" });
    expect(flaky.failures()).toBe(1);
    // Documents change before the build is tried again: a partial tree must not keep their old rows.
    await db.bulk(docs.slice(0, 100).map((doc) => ({ ...doc, n: doc.n + DOCS })));
    flaky.heal();
    await db.close();

    const again = await openOn(url, undefined);
    const { rows } = await again.query(twoRows, { index: "two" });
    expect(rows).toHaveLength(2 * DOCS);
    const byDoc = new Map<string, unknown[]>();
    for (const row of rows) byDoc.set(row.id, [...(byDoc.get(row.id) ?? []), row.key]);
    for (const doc of [docs[0]!, docs[1]!, docs[99]!]) expect(byDoc.get(doc._id)).toEqual([doc.n + DOCS, `s${doc.n + DOCS}`]);
    for (const doc of [docs[100]!, docs[DOCS - 1]!]) expect(byDoc.get(doc._id)).toEqual([doc.n, `s${doc.n}`]);
    expect(await (await openMemoryStore(url)).list("xs/")).toEqual([]);
    await again.close();
  });

  it("an index with rows takes in a long run of changes a slice at a time, each checkpointed", async () => {
    const url = `memory://ix-update-${Math.random()}`;
    const watched = await flakyStore(url, Infinity);
    const db = await openOn(url, watched.store);
    await db.bulk(docs.slice(0, 10));
    expect((await db.query(twoRows, { index: "two" })).rows).toHaveLength(20);
    await db.bulk(docs);
    await db.bulk(docs.slice(0, 20_000).map((doc) => ({ ...doc, n: -doc.n })));
    await Promise.all(docs.slice(20_000, 30_000).map((doc) => db.del(doc._id)));
    const checkpointsBefore = watched.metaWrites();
    const { rows } = await db.query(twoRows, { index: "two" });
    // 40,000 changes: slices of 25,000, then the checkpoint that ends a big build.
    expect(watched.metaWrites() - checkpointsBefore).toBe(2);
    expect(rows).toHaveLength(2 * 30_000);
    expect(rows[0]!.key).toBe(-Math.max(...docs.slice(0, 20_000).map((doc) => doc.n)));
    expect(rows.filter((row) => typeof row.key === "number" && row.key < 0)).toHaveLength(20_000 - 1); // doc 0 has n = 0
    expect(rows.some((row) => row.id >= "d20000" && row.id < "d30000")).toBe(false);
    await db.close();
    const again = await openOn(url, undefined);
    expect((await again.query(twoRows, { index: "two" })).rows).toEqual(rows);
    await again.close();
  });

  it("a build that failed in the map function leaves spilled blocks that the next build clears", async () => {
    const url = `memory://ix-throw-${Math.random()}`;
    const db = await openOn(url, undefined);
    await db.bulk(docs);
    const throwsLate: MapFn = (doc, emit) => {
      if (doc._id === "d39999") throw new Error("bad document");
      twoRows(doc, emit);
    };
    await expect(db.query(throwsLate, { index: "two" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect((await (await openMemoryStore(url)).list("xs/")).length).toBeGreaterThan(0);
    expect((await db.query(twoRows, { index: "two" })).rows).toHaveLength(2 * DOCS);
    expect(await (await openMemoryStore(url)).list("xs/")).toEqual([]);
    await db.close();
  });

  it("a build holds its rows by their size: small rows within the budget are not spilled, few big ones are", async () => {
    // 60,000 small rows (~10 MB as a build estimates them) under the default budget (64 MiB: 16 MiB of rows) fit in one run.
    const roomy = await flakyStore(`memory://ix-roomy-${Math.random()}`, Infinity);
    const db = await openOn(roomy.store.url, roomy.store, DEFAULT_CACHE_BYTES);
    await db.bulk(docs.slice(0, 20_000));
    expect((await db.query(twoRows, { index: "two" })).rows).toHaveLength(40_000);
    expect(roomy.spilled()).toBe(false);
    await db.close();

    // 600 documents emitting 20 KB values each (~12 MB) under an 8 MiB budget: spilled, and every row is kept whole.
    const tight = await flakyStore(`memory://ix-big-${Math.random()}`, Infinity);
    const big = await openOn(tight.store.url, tight.store);
    const text = (i: number): string => `${i}:`.padEnd(20_000, String.fromCharCode(97 + (i % 26)));
    await big.bulk(Array.from({ length: 600 }, (_, i) => ({ _id: `b${String(i).padStart(3, "0")}`, n: (i * 7) % 600 })));
    const emitsBig: MapFn = (doc, emit) => emit(doc.n!, text(doc.n as number));
    const { rows } = await big.query(emitsBig, { index: "big" });
    expect(tight.spilled()).toBe(true);
    expect(rows.map((row) => row.key)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(rows.every((row) => row.value === text(row.key as number))).toBe(true);
    expect(await tight.store.list("xs/")).toEqual([]);
    await big.close();
  });
});

function compareRows(a: { key: unknown; id: string }, b: { key: unknown; id: string }): number {
  const rank = (key: unknown): number => (typeof key === "number" ? 0 : 1);
  if (rank(a.key) !== rank(b.key)) return rank(a.key) - rank(b.key);
  if (a.key !== b.key) return (a.key as never) < (b.key as never) ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
