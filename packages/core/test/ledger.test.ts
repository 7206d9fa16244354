import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, openFileStore, type Ledger, type MapFn } from "../src/index.node.js";
import { openEncryptedStore } from "../src/store/encrypted.js";
import { openFileKeyring } from "../src/keyring/file.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import type { Keyring } from "../src/keyring/types.js";
import { HearthError } from "../src/errors.js";
import { nodeCipher } from "../src/crypto/cipher-node.js";
import { eventually } from "./helpers/eventually.js";
import fc from "fast-check";
import { encodedKeyEnd, encodeKey } from "../src/ledger/collate.js";
import { rowId } from "../src/ledger/indexes.js";
import type { JsonValue } from "../src/doc/normalize.js";

let dir: string;
const opened: Ledger[] = [];
let counter = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hearth-ledger-"));
});
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function memoryLedger(): Promise<Ledger> {
  const name = `t${++counter}-${Math.random().toString(36).slice(2)}`;
  const db = await open(name, { store: `memory://${name}`, keyring: `memory://${name}-keys` });
  opened.push(db);
  return db;
}

async function fileLedger(sub = "db"): Promise<{ db: Ledger; reopen: () => Promise<Ledger> }> {
  const options = { store: `file://${dir}/${sub}`, keyring: `file://${dir}/keyring` };
  const db = await open("files", options);
  opened.push(db);
  return {
    db,
    reopen: async () => {
      const again = await open("files", options);
      opened.push(again);
      return again;
    },
  };
}

describe("put and get", () => {
  it("generates time-ordered ids and returns the clock", async () => {
    const db = await memoryLedger();
    const a = await db.put({ n: 1 });
    const b = await db.put({ n: 2 });
    expect(a.id < b.id).toBe(true);
    expect(a.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(b.clock).toHaveLength(1);
    expect(b.clock[0]).toMatch(/^bafy/);
    expect(b.clock).not.toEqual(a.clock);
    expect(await db.get(a.id)).toEqual({ _id: a.id, n: 1 });
  });

  it("keeps a given _id and overwrites on a second put", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "x", v: 1 });
    await db.put({ _id: "x", v: 2, extra: [1, { deep: true }] });
    expect(await db.get("x")).toEqual({ _id: "x", v: 2, extra: [1, { deep: true }] });
  });

  it("returns copies: mutating a result changes nothing", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "x", list: [1, 2] });
    const doc = await db.get("x");
    (doc.list as number[]).push(3);
    expect(await db.get("x")).toEqual({ _id: "x", list: [1, 2] });
  });

  it("allDocs returns copies too, of documents not yet folded into the tree and of ones read from it", async () => {
    const { db, reopen } = await fileLedger("alldocs-copies");
    await db.put({ _id: "x", list: [1, 2] });
    const mutate = async (ledger: Ledger): Promise<void> => {
      for (const row of (await ledger.allDocs()).rows) {
        ((row.value as Record<string, unknown>).list as number[]).push(3);
        (row.value as Record<string, unknown>).extra = true;
      }
      expect((await ledger.allDocs()).rows.map((row) => row.value)).toEqual([{ _id: "x", list: [1, 2] }]);
      expect(await ledger.get("x")).toEqual({ _id: "x", list: [1, 2] });
    };
    await mutate(db); // from the overlay
    await db.close();
    await mutate(await reopen()); // decoded from a tree leaf
  });

  it("reads back documents the overlay holds encoded, small and large, across many slabs, before and after a reopen", async () => {
    const { db, reopen } = await fileLedger("overlay-encoded");
    // ~0.5 MB of registers: many of the overlay's 64 KiB slabs, and documents past its 1 KiB copy limit.
    const docs = Array.from({ length: 1_500 }, (_, i) => ({
      _id: `d${String(i).padStart(5, "0")}`,
      n: i,
      text: "é".repeat(i % 100 === 0 ? 12_000 : i % 40),
      list: [i, { deep: i % 3 === 0 }],
    }));
    for (let i = 0; i < docs.length; i += 250) await db.bulk(docs.slice(i, i + 250));
    await db.put({ ...docs[7]!, n: -7 }); // rewritten while still in the overlay
    const expected = docs.map((doc, i) => (i === 7 ? { ...doc, n: -7 } : doc));
    const check = async (ledger: Ledger): Promise<void> => {
      for (const i of [0, 7, 100, 1_499]) expect(await ledger.get(docs[i]!._id)).toEqual(expected[i]);
      expect((await ledger.allDocs()).rows.map((row) => row.value)).toEqual(expected);
    };
    await check(db);
    await db.close();
    await check(await reopen());
  });

  it("normalizes to plain JSON: undefined dropped, Date to ISO, toJSON honoured, -0 to 0", async () => {
    const db = await memoryLedger();
    const when = new Date("2026-01-02T03:04:05.000Z");
    await db.put({ _id: "n", a: undefined, when, nested: { b: undefined, c: [undefined, 1] }, z: -0, _conflicts: ["ignored"] });
    expect(await db.get("n")).toEqual({ _id: "n", when: "2026-01-02T03:04:05.000Z", nested: { c: [null, 1] }, z: 0 });
  });

  it.each([
    ["a function", { f: () => 1 }],
    ["a BigInt", { b: 10n }],
    ["NaN", { x: NaN }],
    ["Infinity", { x: Infinity }],
    ["a Map", { m: new Map() }],
    ["a class instance", { c: new (class Point { x = 1 })() }],
    ["a typed array other than Uint8Array", { t: new Float32Array(2) }],
    ["an ArrayBuffer", { t: new ArrayBuffer(2) }],
    ["a symbol", { s: Symbol("s") }],
    ["a lone surrogate", { s: "\ud800" }],
    ["a numeric _id", { _id: 12 }],
    ["an empty _id", { _id: "" }],
    ["an _id over 1 KiB", { _id: "é".repeat(513) }],
  ])("rejects %s with INVALID_DOC and writes nothing", async (_what, doc) => {
    const db = await memoryLedger();
    await expect(db.put(doc as never)).rejects.toMatchObject({ code: "INVALID_DOC" });
    expect((await db.allDocs({ includeDeleted: true })).rows).toEqual([]);
  });

  it("rejects cycles with INVALID_DOC", async () => {
    const db = await memoryLedger();
    const doc: Record<string, unknown> = { _id: "c" };
    doc.self = doc;
    await expect(db.put(doc)).rejects.toMatchObject({ code: "INVALID_DOC" });
    const shared = { x: 1 };
    await db.put({ _id: "shared-not-cyclic", a: shared, b: shared });
    expect(await db.get("shared-not-cyclic")).toEqual({ _id: "shared-not-cyclic", a: { x: 1 }, b: { x: 1 } });
  });

  it("names the offending field's path in INVALID_DOC, and finds cycles through arrays and toJSON", async () => {
    const db = await memoryLedger();
    const message = async (doc: Record<string, unknown>): Promise<string> => {
      const err = await db.put(doc).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "INVALID_DOC" });
      return (err as Error).message;
    };
    expect(await message({ a: [1, { b: [[0, 0, NaN]] }] })).toContain("document field a[1].b[0][2] is NaN");
    expect(await message({ "": { x: () => 1 } })).toContain("document field x is a function");
    const list: unknown[] = [1];
    list.push({ back: list });
    expect(await message({ list })).toContain("document field list[1].back is part of a cycle");
    const loop: Record<string, unknown> = {};
    loop.toJSON = () => ({ again: loop });
    expect(await message({ loop })).toContain("document field loop.again is part of a cycle");
    expect(await message({ [String.fromCharCode(0xd800)]: 1 })).toContain("document field (root) has a key with a lone UTF-16 surrogate");
    expect((await db.allDocs({ includeDeleted: true })).rows).toEqual([]);
  });

  it("keeps a field named __proto__ (JSON.parse makes one) as a field, on every read", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "p", ...(JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>) });
    const doc = await db.get("p");
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    expect(Object.keys(doc).sort()).toEqual(["__proto__", "_id", "y"]);
    expect(Object.getOwnPropertyDescriptor(doc, "__proto__")?.value).toEqual({ x: 1 });
    const [row] = (await db.allDocs()).rows;
    expect(Object.getOwnPropertyDescriptor(row!.value, "__proto__")?.value).toEqual({ x: 1 });
  });

  it("loads the device identity at the first write, not at open; a load that fails fails that write, and the next write tries again", async () => {
    const inner = await openMemoryKeyring(`memory://lazy-identity-${Math.random()}`);
    let loads = 0;
    let failNext = true;
    const keyring = new Proxy(inner, {
      get(target, prop) {
        if (prop === "identity") {
          return async () => {
            loads++;
            if (failNext) {
              failNext = false;
              throw new HearthError("STORAGE_FAILED", "injected: the keyring could not be read");
            }
            return target.identity();
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Keyring;
    const name = `lazy-identity-${Math.random().toString(36).slice(2)}`;
    const db = await open(name, { store: `memory://${name}`, keyring });
    opened.push(db);
    expect((await db.allDocs()).rows).toEqual([]);
    expect(loads).toBe(0);
    await expect(db.put({ _id: "a" })).rejects.toMatchObject({ code: "STORAGE_FAILED" });
    await expect(db.get("a")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await db.put({ _id: "a" });
    await db.put({ _id: "b" });
    expect(loads).toBe(2);
    expect((await db.allDocs()).rows.map((row) => row.key)).toEqual(["a", "b"]);
  });

  it("rejects non-objects with INVALID_DOC", async () => {
    const db = await memoryLedger();
    for (const bad of [null, 3, "s", [1]]) await expect(db.put(bad as never)).rejects.toMatchObject({ code: "INVALID_DOC" });
  });

  it("accepts an _id of exactly 1 KiB", async () => {
    const db = await memoryLedger();
    const id = "x".repeat(1024);
    await db.put({ _id: id });
    expect((await db.get(id))._id).toBe(id);
  });

  it("get of a missing or deleted document is NOT_FOUND", async () => {
    const db = await memoryLedger();
    await expect(db.get("nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await db.put({ _id: "d" });
    await db.del("d");
    await expect(db.get("d")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(db.get(5 as never)).rejects.toMatchObject({ code: "INVALID_DOC" });
  });

  it("concurrent puts share one commit (group commit)", async () => {
    const db = await memoryLedger();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => db.put({ _id: `c${i}`, i })));
    expect(new Set(results.map((r) => r.clock.join())).size).toBe(1);
    expect((await db.allDocs()).rows).toHaveLength(50);
  });
});

describe("del and bulk", () => {
  it("del writes a tombstone visible with includeDeleted", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "a", v: 1 });
    const res = await db.del("a");
    expect(res.id).toBe("a");
    expect((await db.allDocs()).rows).toEqual([]);
    expect((await db.allDocs({ includeDeleted: true })).rows).toEqual([{ key: "a", value: { _id: "a", _deleted: true } }]);
    await db.put({ _id: "a", v: 2 });
    expect(await db.get("a")).toEqual({ _id: "a", v: 2 });
  });

  it("bulk writes all in one commit, later duplicates win, ids in order", async () => {
    const db = await memoryLedger();
    const seen: unknown[][] = [];
    db.subscribe((docs) => seen.push(docs));
    const res = await db.bulk([{ _id: "a", v: 1 }, { v: 2 }, { _id: "a", v: 3 }]);
    expect(res.ids[0]).toBe("a");
    expect(res.ids[2]).toBe("a");
    expect(seen).toHaveLength(1);
    expect(await db.get("a")).toEqual({ _id: "a", v: 3 });
    expect((await db.allDocs()).rows).toHaveLength(2);
  });

  it("bulk with one invalid document writes none", async () => {
    const db = await memoryLedger();
    await expect(db.bulk([{ _id: "ok" }, { _id: "bad", f: () => 0 }])).rejects.toMatchObject({ code: "INVALID_DOC" });
    expect((await db.allDocs()).rows).toEqual([]);
  });

  it("bulk of nothing is a no-op", async () => {
    const db = await memoryLedger();
    expect(await db.bulk([])).toEqual({ ids: [], clock: [] });
  });
});

describe("allDocs", () => {
  async function seeded(): Promise<Ledger> {
    const db = await memoryLedger();
    await db.bulk(["a", "b", "ba", "bb", "c", "d"].map((id) => ({ _id: id, v: id })));
    await db.del("c");
    return db;
  }
  const keys = (rows: Array<{ key: string }>): string[] => rows.map((r) => r.key);

  it("lists in id order with the clock", async () => {
    const db = await seeded();
    const res = await db.allDocs();
    expect(keys(res.rows)).toEqual(["a", "b", "ba", "bb", "d"]);
    expect(res.rows[0]!.value).toEqual({ _id: "a", v: "a" });
    expect(res.clock).toEqual(db.heads());
  });

  it("supports key, keys, prefix, range, descending, limit, includeDeleted", async () => {
    const db = await seeded();
    expect(keys((await db.allDocs({ key: "b" })).rows)).toEqual(["b"]);
    expect(keys((await db.allDocs({ key: "zz" })).rows)).toEqual([]);
    expect(keys((await db.allDocs({ keys: ["d", "a", "nope", "c"] })).rows)).toEqual(["d", "a"]);
    expect(keys((await db.allDocs({ keys: ["d", "c"], includeDeleted: true })).rows)).toEqual(["d", "c"]);
    expect(keys((await db.allDocs({ prefix: "b" })).rows)).toEqual(["b", "ba", "bb"]);
    expect(keys((await db.allDocs({ prefix: "b", descending: true })).rows)).toEqual(["bb", "ba", "b"]);
    expect(keys((await db.allDocs({ range: ["b", "bb"] })).rows)).toEqual(["b", "ba", "bb"]);
    expect(keys((await db.allDocs({ range: ["b", "bb"], descending: true, limit: 2 })).rows)).toEqual(["bb", "ba"]);
    expect(keys((await db.allDocs({ descending: true })).rows)).toEqual(["d", "bb", "ba", "b", "a"]);
    expect(keys((await db.allDocs({ limit: 2 })).rows)).toEqual(["a", "b"]);
    expect(keys((await db.allDocs({ limit: 0 })).rows)).toEqual([]);
    expect(keys((await db.allDocs({ includeDeleted: true })).rows)).toEqual(["a", "b", "ba", "bb", "c", "d"]);
  });

  it("rejects conflicting or malformed options with INVALID_ARGUMENT", async () => {
    const db = await seeded();
    await expect(db.allDocs({ key: "a", prefix: "b" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.allDocs({ limit: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.allDocs({ limit: 1.5 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.allDocs({ range: ["a"] as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("changes", () => {
  it("lists each changed document once, in change order, and resumes from a clock", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "a", v: 1 });
    await db.put({ _id: "b", v: 1 });
    const first = await db.changes();
    expect(first.rows.map((r) => r.key)).toEqual(["a", "b"]);
    await db.put({ _id: "a", v: 2 });
    await db.del("b");
    const next = await db.changes(first.clock);
    expect(next.rows).toEqual([
      { key: "a", value: { _id: "a", v: 2 } },
      { key: "b", value: { _id: "b", _deleted: true } },
    ]);
    expect((await db.changes(next.clock)).rows).toEqual([]);
    expect((await db.changes()).rows.map((r) => r.key)).toEqual(["a", "b"]);
  });

  it("accepts a put's clock as since", async () => {
    const db = await memoryLedger();
    const { clock } = await db.put({ _id: "a" });
    await db.put({ _id: "b" });
    expect((await db.changes(clock)).rows.map((r) => r.key)).toEqual(["b"]);
  });

  it("pages with limit, also inside one big commit, without losing or repeating rows", async () => {
    const db = await memoryLedger();
    await db.bulk(Array.from({ length: 25 }, (_, i) => ({ _id: `k${String(i).padStart(2, "0")}` })));
    await db.put({ _id: "last" });
    const seen: string[] = [];
    let clock: string[] = [];
    for (let page = 0; page < 10; page++) {
      const res = await db.changes(clock, { limit: 7 });
      seen.push(...res.rows.map((r) => r.key));
      clock = res.clock;
      if (res.rows.length < 7) break;
    }
    expect(seen).toHaveLength(26);
    expect(new Set(seen).size).toBe(26);
    expect(seen.at(-1)).toBe("last");
  });

  it("rejects malformed clocks with INVALID_ARGUMENT and ignores unknown events", async () => {
    const db = await memoryLedger();
    await db.put({ _id: "a" });
    await expect(db.changes("nope" as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.changes(["not-a-cid"])).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.changes(["@x"])).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.changes([], { limit: -2 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const other = await memoryLedger();
    const foreign = (await other.put({ _id: "z" })).clock;
    expect((await db.changes(foreign)).rows.map((r) => r.key)).toEqual(["a"]);
  });
});

describe("query", () => {
  async function people(): Promise<Ledger> {
    const db = await memoryLedger();
    await db.bulk([
      { _id: "ann", age: 31, city: "Oslo", tags: ["a", "b"] },
      { _id: "bob", age: 25, city: "Rome" },
      { _id: "cat", age: 31, city: "Oslo" },
      { _id: "dan", city: "Paris" },
      { _id: "eve", age: 40, city: "Rome", tags: ["b"] },
    ]);
    return db;
  }
  const ids = (rows: Array<{ id: string }>): string[] => rows.map((r) => r.id);

  it("indexes a field, sorted by value then id, skipping documents without it", async () => {
    const db = await people();
    const { rows } = await db.query("age");
    expect(rows.map((r) => [r.id, r.key])).toEqual([["bob", 25], ["ann", 31], ["cat", 31], ["eve", 40]]);
    expect(rows[0]!.value).toBeNull();
    expect(rows[0]!.doc).toBeUndefined();
  });

  it("supports key, keys, range, prefix, descending, limit, includeDocs", async () => {
    const db = await people();
    expect(ids((await db.query("age", { key: 31 })).rows)).toEqual(["ann", "cat"]);
    expect(ids((await db.query("age", { keys: [40, 25, 99] })).rows)).toEqual(["eve", "bob"]);
    expect(ids((await db.query("age", { range: [26, 40] })).rows)).toEqual(["ann", "cat", "eve"]);
    expect(ids((await db.query("age", { range: [25, 31], descending: true })).rows)).toEqual(["cat", "ann", "bob"]);
    expect(ids((await db.query("age", { descending: true, limit: 2 })).rows)).toEqual(["eve", "cat"]);
    expect(ids((await db.query("city", { prefix: "R" })).rows)).toEqual(["bob", "eve"]);
    const withDocs = await db.query("age", { key: 25, includeDocs: true });
    expect(withDocs.rows[0]!.doc).toEqual({ _id: "bob", age: 25, city: "Rome" });
  });

  it("runs map functions: emit many rows with values, or return a key", async () => {
    const db = await people();
    const byTag = await db.query((doc, emit) => {
      for (const t of (doc.tags as string[] | undefined) ?? []) emit(t, doc.city);
    });
    expect(byTag.rows.map((r) => [r.key, r.id, r.value])).toEqual([["a", "ann", "Oslo"], ["b", "ann", "Oslo"], ["b", "eve", "Rome"]]);
    const byCityAge = await db.query((doc) => (doc.age === undefined ? undefined : [doc.city, doc.age]), { prefix: ["Oslo"] });
    expect(ids(byCityAge.rows)).toEqual(["ann", "cat"]);
    expect(byCityAge.rows[0]!.key).toEqual(["Oslo", 31]);
  });

  it("stays up to date incrementally with puts and deletes", async () => {
    const db = await people();
    expect(ids((await db.query("age", { key: 31 })).rows)).toEqual(["ann", "cat"]);
    await db.put({ _id: "ann", age: 32, city: "Oslo" });
    await db.del("cat");
    await db.put({ _id: "fay", age: 31 });
    expect(ids((await db.query("age", { key: 31 })).rows)).toEqual(["fay"]);
    expect(ids((await db.query("age")).rows)).toEqual(["bob", "fay", "ann", "eve"]);
  });

  it("collates keys across types: null < false < true < numbers < strings < arrays < objects < bytes", async () => {
    const db = await memoryLedger();
    const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
    const values = [bytes(1), { o: 1 }, bytes(), ["a"], ["a", 1], bytes(0, 255), "b", "a", "", 10, -1.5, 2, true, false, null, [], "a\u0000", bytes(0), bytes(1, 0)];
    await db.bulk(values.map((k, i) => ({ _id: `v${i}`, k })));
    const { rows } = await db.query("k");
    expect(rows.map((r) => r.key)).toEqual([
      null, false, true, -1.5, 2, 10, "", "a", "a\u0000", "b", [], ["a"], ["a", 1], { o: 1 },
      bytes(), bytes(0), bytes(0, 255), bytes(1), bytes(1, 0),
    ]);
    expect(ids((await db.query("k", { key: bytes(0, 255) })).rows)).toEqual(["v5"]);
    expect(ids((await db.query("k", { range: [bytes(0), bytes(1)] })).rows)).toEqual(["v17", "v5", "v0"]);
  });

  it("an index row's document id is read off its tree key, whatever the key and the id (property)", async () => {
    const { key: anyKey } = fc.letrec<{ key: JsonValue }>((tie) => ({
      key: fc.oneof(
        { depthSize: "small" },
        fc.constant(null), fc.boolean(), fc.double({ noNaN: true }), fc.string({ unit: "binary" }), fc.uint8Array({ maxLength: 4 }),
        fc.array(tie("key"), { maxLength: 3 }), fc.dictionary(fc.string({ unit: "binary" }), tie("key"), { maxKeys: 3 }),
      ),
    }));
    fc.assert(fc.property(anyKey, fc.string({ unit: "binary", minLength: 1 }), (k, id) => {
      expect(rowId(`k${encodeKey(k)}${id}`, { k })).toBe(id);
    }), { numRuns: 2_000 });
    for (const damaged of ["k", "k5abc", "k4123", "k6", "k65abc", "k9x"]) {
      expect(() => encodedKeyEnd(damaged, 1)).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
    }
    // Through a ledger: ids and keys that look like encodings, built, updated and deleted.
    const db = await memoryLedger();
    const docs = [{ _id: "k1", k: "5\u0000" }, { _id: "5\u0000x", k: ["a\u0001", 1] }, { _id: "1", k: null }, { _id: "\u0000", k: { x: "k" } }];
    await db.bulk(docs);
    const keyed = async (): Promise<Array<[string, unknown]>> => (await db.query("k")).rows.map((r) => [r.id, r.key]);
    expect(await keyed()).toEqual([["1", null], ["k1", "5\u0000"], ["5\u0000x", ["a\u0001", 1]], ["\u0000", { x: "k" }]]);
    await db.put({ _id: "k1", k: 7 });
    await db.del("5\u0000x");
    expect(await keyed()).toEqual([["1", null], ["k1", 7], ["\u0000", { x: "k" }]]);
    expect((await db.query("k", { key: 7, includeDocs: true })).rows[0]!.doc).toEqual({ _id: "k1", k: 7 });
  });

  it("stores Uint8Array (and Buffer) at any depth as bytes: copies in, copies out, through every read", async () => {
    const db = await memoryLedger();
    const input = new Uint8Array([1, 2, 3]);
    await db.put({ _id: "b", top: input, deep: { list: [Buffer.from("hi"), { inner: new Uint8Array(0) }] } });
    input[0] = 9; // the caller's array is not the stored one
    const doc = await db.get("b");
    expect(doc.top).toEqual(new Uint8Array([1, 2, 3]));
    expect(Object.getPrototypeOf((doc.deep as { list: unknown[] }).list[0])).toBe(Uint8Array.prototype); // a Buffer comes back a plain Uint8Array
    expect(doc).toEqual({ _id: "b", top: new Uint8Array([1, 2, 3]), deep: { list: [new Uint8Array([104, 105]), { inner: new Uint8Array(0) }] } });
    (doc.top as Uint8Array)[1] = 7; // nor is a result
    expect((await db.get("b")).top).toEqual(new Uint8Array([1, 2, 3]));
    expect((await db.allDocs()).rows[0]!.value).toMatchObject({ top: new Uint8Array([1, 2, 3]) });
    expect((await db.changes()).rows[0]!.value).toMatchObject({ top: new Uint8Array([1, 2, 3]) });
    expect((await db.query((d) => d.top, { includeDocs: true })).rows[0]).toMatchObject({ key: new Uint8Array([1, 2, 3]), doc: { top: new Uint8Array([1, 2, 3]) } });
  });

  it("a map function that emits one key twice for a document keeps one row, with the last value (it used to fail the index)", async () => {
    const db = await memoryLedger();
    const map: MapFn = (doc, emit) => {
      emit(doc.k ?? null, 1);
      emit(doc.k ?? null, 2);
    };
    await db.put({ _id: "a", k: "x" });
    expect((await db.query(map)).rows).toEqual([{ id: "a", key: "x", value: 2 }]);
    await db.put({ _id: "a", k: "y" }); // an update too
    expect((await db.query(map)).rows).toEqual([{ id: "a", key: "y", value: 2 }]);
  });

  it("rebuilds a named index when its function changes", async () => {
    const db = await people();
    expect(ids((await db.query((d) => d.age, { index: "x", key: 25 })).rows)).toEqual(["bob"]);
    expect(ids((await db.query((d) => d.city, { index: "x", key: "Paris" })).rows)).toEqual(["dan"]);
    expect((await db.query((d) => d.city, { index: "x", key: 25 })).rows).toEqual([]);
  });

  it("persists indexes across reopen and keeps them current", async () => {
    const { db, reopen } = await fileLedger();
    await db.bulk([{ _id: "a", n: 1 }, { _id: "b", n: 2 }]);
    expect(ids((await db.query("n")).rows)).toEqual(["a", "b"]);
    await db.close();
    const again = await reopen();
    await again.put({ _id: "c", n: 0 });
    expect(ids((await again.query("n")).rows)).toEqual(["c", "a", "b"]);
  });

  it("reports map functions that throw or emit non-JSON with INVALID_ARGUMENT", async () => {
    const db = await people();
    await expect(db.query(() => { throw new Error("boom"); })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.query((_d, emit) => emit((() => 1) as never))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.query("age", { key: 1, range: [1, 2] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(db.query(5 as never)).rejects.toThrow(TypeError);
  });
});

describe("subscribe", () => {
  it("fires after each commit with the changed docs; unsubscribe stops it", async () => {
    const db = await memoryLedger();
    const seen: unknown[] = [];
    const off = db.subscribe((docs) => seen.push(docs));
    await db.put({ _id: "a", v: 1 });
    await db.del("a");
    off();
    await db.put({ _id: "b" });
    expect(seen).toEqual([[{ _id: "a", v: 1 }], [{ _id: "a", _deleted: true }]]);
  });

  it("a throwing subscriber does not break writes or other subscribers", async () => {
    const db = await memoryLedger();
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      let calls = 0;
      db.subscribe(() => { throw new Error("subscriber bug"); });
      db.subscribe(() => calls++);
      await db.put({ _id: "a" });
      expect(calls).toBe(1);
      expect(errors).toHaveLength(1);
      expect(await db.get("a")).toEqual({ _id: "a" });
    } finally {
      console.error = original;
    }
  });
});

describe("conflicts and root", () => {
  it("concurrent writes to one id converge; the loser is kept in _conflicts", async () => {
    const a = await memoryLedger();
    const b = await memoryLedger();
    await a.put({ _id: "x", from: "a" });
    await b.put({ _id: "x", from: "b" });
    const fromA = await a.eventBlock(a.heads()[0]!);
    const fromB = await b.eventBlock(b.heads()[0]!);
    await a.ingest([fromB]);
    await b.ingest([fromA]);
    const docA = await a.get("x", { conflicts: true });
    const docB = await b.get("x", { conflicts: true });
    expect(docA).toEqual(docB);
    expect(docA._conflicts).toHaveLength(1);
    expect([docA.from, docA._conflicts![0]!.from].sort()).toEqual(["a", "b"]);
    expect(await a.root()).toBe(await b.root());
    // A write that has seen both resolves the conflict.
    await a.put({ _id: "x", from: "resolved" });
    expect((await a.get("x", { conflicts: true }))._conflicts).toEqual([]);
  });

  it("equal writes on separate replicas give different events but the same root once exchanged", async () => {
    const a = await memoryLedger();
    const b = await memoryLedger();
    expect(await a.root()).toBe(await b.root());
    await a.put({ _id: "k", v: 1 });
    expect(await a.root()).not.toBe(await b.root());
    await b.ingest([await a.eventBlock(a.heads()[0]!)]);
    expect(await b.root()).toBe(await a.root());
    expect(await b.hasEvent(a.heads()[0]!)).toBe(true);
  });

  it("an event whose parent is missing waits for it", async () => {
    const a = await memoryLedger();
    const b = await memoryLedger();
    await a.put({ _id: "p" });
    const parent = await a.eventBlock(a.heads()[0]!);
    await a.put({ _id: "q" });
    const child = await a.eventBlock(a.heads()[0]!);
    expect(await b.ingest([child])).toEqual({ applied: 0, waiting: 1, refused: 0 });
    await expect(b.get("q")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await b.ingest([parent, parent])).toEqual({ applied: 2, waiting: 0, refused: 0 });
    expect(await b.root()).toBe(await a.root());
  });

  it("rejects a tampered event block with INTEGRITY and merges nothing", async () => {
    const a = await memoryLedger();
    const b = await memoryLedger();
    await a.put({ _id: "t", secret: "x" });
    const block = await a.eventBlock(a.heads()[0]!);
    const bytes = block.bytes.slice();
    bytes[bytes.length - 2]! ^= 1;
    await expect(b.ingest([{ cid: block.cid, bytes }])).rejects.toMatchObject({ code: "INTEGRITY" });
    expect((await b.allDocs()).rows).toEqual([]);
  });
});

describe("lifecycle and storage", () => {
  it("keeps data across close and reopen (file), including deletes", async () => {
    const { db, reopen } = await fileLedger();
    await db.bulk(Array.from({ length: 1500 }, (_, i) => ({ _id: `d${i}`, i })));
    await db.del("d7");
    const root = await db.root();
    await db.close();
    const again = await reopen();
    expect(await again.root()).toBe(root);
    expect((await again.allDocs()).rows).toHaveLength(1499);
    await expect(again.get("d7")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await again.get("d8")).toEqual({ _id: "d8", i: 8 });
  });

  it("keeps data across close and reopen (memory, same process)", async () => {
    const name = `mem-${Math.random()}`;
    const options = { store: `memory://${name}`, keyring: `memory://${name}` };
    const db = await open(name, options);
    await db.put({ _id: "a", v: 1 });
    await db.close();
    const again = await open(name, options);
    opened.push(again);
    expect(await again.get("a")).toEqual({ _id: "a", v: 1 });
  });

  it("writes in flight when close() is called complete; later calls are STORE_CLOSED", async () => {
    const db = await memoryLedger();
    const pending = db.put({ _id: "late" });
    await db.close();
    await expect(pending).resolves.toMatchObject({ id: "late" });
    await db.close();
    await expect(db.put({})).rejects.toMatchObject({ code: "STORE_CLOSED" });
    await expect(db.get("late")).rejects.toMatchObject({ code: "STORE_CLOSED" });
    await expect(db.allDocs()).rejects.toMatchObject({ code: "STORE_CLOSED" });
    expect(() => db.subscribe(() => undefined)).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
  });

  it("destroy deletes everything", async () => {
    const { db, reopen } = await fileLedger();
    await db.put({ _id: "a" });
    await db.destroy();
    expect(existsSync(join(dir, "db"))).toBe(false);
    const again = await reopen();
    expect((await again.allDocs({ includeDeleted: true })).rows).toEqual([]);
  });

  it("open() twice in one process gives two handles on one ledger: writes and subscriptions shared, closed with the last handle", async () => {
    for (const store of [`file://${dir}/shared`, `memory://shared-${Math.random()}`]) {
      const options = { store, keyring: `file://${dir}/keyring` };
      const [a, b] = await Promise.all([open("shared", options), open("shared", options)]); // also while the first is still opening
      expect(a).not.toBe(b);
      expect(b).toBeInstanceOf(a.constructor);
      const seenByB: string[] = [];
      const seenByA: string[] = [];
      b.subscribe((docs) => seenByB.push(...docs.map((d) => d._id)));
      a.subscribe((docs) => seenByA.push(...docs.map((d) => d._id)));
      await a.put({ _id: "from-a" });
      expect(await b.get("from-a")).toEqual({ _id: "from-a" });
      await eventually(() => expect(seenByB).toContain("from-a"));
      const c = await open("shared", options); // a third, after the first two are open
      await a.close();
      // a is closed (and its subscription gone); b and c go on.
      await expect(a.get("from-a")).rejects.toMatchObject({ code: "STORE_CLOSED" });
      expect(() => a.heads()).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
      await c.put({ _id: "from-c" });
      await eventually(() => expect(seenByB).toContain("from-c"));
      expect(seenByA).not.toContain("from-c");
      expect((await b.allDocs()).rows.map((r) => r.key)).toEqual(["from-a", "from-c"]);
      await a.close(); // idempotent: it does not let go of another handle's hold
      expect(await c.get("from-c")).toEqual({ _id: "from-c" });
      await b.close();
      await c.close();
      // The ledger closed with its last handle: a new open loads it afresh.
      const again = await open("shared", options);
      expect((await again.allDocs()).rows.map((r) => r.key)).toEqual(["from-a", "from-c"]);
      await again.close();
    }
  });

  it("destroy() through one handle is LOCKED while another is open; after the others close it deletes", async () => {
    const name = `destroy-${Math.random()}`;
    const options = { store: `memory://${name}`, keyring: `memory://${name}` };
    const a = await open(name, options);
    const b = await open(name, options);
    await a.put({ _id: "x" });
    await expect(a.destroy()).rejects.toMatchObject({ code: "LOCKED" });
    expect(await a.get("x")).toEqual({ _id: "x" }); // still open
    await b.close();
    await a.destroy();
    await expect(a.get("x")).rejects.toMatchObject({ code: "STORE_CLOSED" });
    await expect(b.destroy()).rejects.toMatchObject({ code: "STORE_CLOSED" });
    const fresh = await open(name, options);
    expect((await fresh.allDocs()).rows).toEqual([]);
    await fresh.close();
  });

  it("a handle's own sync points detach when it closes; the other handle's stay", async () => {
    const name = `attached-${Math.random()}`;
    const options = { store: `memory://${name}`, keyring: `memory://${name}` };
    const a = await open(name, options);
    const b = await open(name, options);
    const viaA = await a.attach(`memory://point-a-${name}`);
    const viaB = await b.attach(`memory://point-b-${name}`);
    expect(b.attachments()).toHaveLength(2);
    await a.close();
    expect(b.attachments()).toEqual([viaB]);
    expect(() => viaA.synced()).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
    await b.close();
  });

  it("open with other options than the ledger open in this process: LOCKED, or with wait, takes over when it closes, and gives up at a deadline", async () => {
    for (const store of [`file://${dir}/waited`, `memory://waited-${Math.random()}`]) {
      const options = { store, keyring: `file://${dir}/keyring` };
      const other = { ...options, durability: "fsync" as const };
      const db = await open("waited", options);
      const err = await open("waited", other).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "LOCKED" });
      expect((err as Error).message).toContain('durability "process"');
      await expect(open("waited", { ...other, wait: { timeoutMs: 20 } })).rejects.toMatchObject({ code: "LOCKED" });
      const holders: Ledger[] = [];
      const queue = [open("waited", { ...other, wait: true }), open("waited", { ...other, wait: true })];
      for (const waiting of queue) void waiting.then((ledger) => holders.push(ledger));
      await db.put({ _id: "before-close" });
      expect(holders).toEqual([]);
      await db.close();
      // Both waiters open the same ledger once it is free: the first loads it, the second shares it.
      await eventually(() => expect(holders.length).toBe(2), { what: "both waiters to open" });
      const [first, second] = holders as [Ledger, Ledger];
      expect(await first.get("before-close")).toMatchObject({ _id: "before-close" });
      await first.put({ _id: "from-first" });
      expect(await second.get("from-first")).toMatchObject({ _id: "from-first" });
      await first.close();
      await second.close();
    }
  });

  it("a store encrypted with a key this keyring lacks is KEY_REQUIRED, and releases the store", async () => {
    const { db } = await fileLedger();
    await db.put({ _id: "secret" });
    await db.close();
    const options = { store: `file://${dir}/db`, keyring: `file://${dir}/other-keyring` };
    await expect(open("files", options)).rejects.toMatchObject({ code: "KEY_REQUIRED" });
    await expect(open("files", options)).rejects.toMatchObject({ code: "KEY_REQUIRED" }); // not LOCKED: released
  });

  it("bad locations are INVALID_URL; bad names and durability are INVALID_ARGUMENT", async () => {
    await expect(open("x", { store: "ftp://host/x" })).rejects.toMatchObject({ code: "INVALID_URL" });
    await expect(open("x", { store: "indexeddb://x" })).rejects.toMatchObject({ code: "INVALID_URL" });
    await expect(open("x", { store: "file://relative/path" })).rejects.toMatchObject({ code: "INVALID_URL" });
    for (const root of ["file:///", "file:////", "file:///C:/"]) {
      await expect(open("x", { store: root })).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringContaining("root of the file system") });
      await expect(open("x", { store: "memory://root-check", keyring: root })).rejects.toMatchObject({ code: "INVALID_URL" });
    }
    const db = await open("root-check", { store: `memory://root-check-${Math.random()}`, keyring: "memory://root-check" });
    await expect(db.attach("file:///")).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringContaining("root of the file system") });
    await db.close();
    await expect(open("x", { store: "memory://x", keyring: "s3://k" })).rejects.toMatchObject({ code: "INVALID_URL" });
    await expect(open("", {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(open("..", {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(open("x", { store: "memory://dur", durability: "maybe" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("defaults to $HEARTH_DIR/<name> with the device keyring in $HEARTH_DIR/.keyring", async () => {
    const previous = process.env.HEARTH_DIR;
    process.env.HEARTH_DIR = join(dir, "home");
    try {
      const db = await open("my todos");
      opened.push(db);
      await db.put({ _id: "a" });
      expect(db.url).toBe(`file://${dir}/home/my%20todos`);
      expect(existsSync(join(dir, "home", "my todos"))).toBe(true);
      expect(existsSync(join(dir, "home", ".keyring", "keys"))).toBe(true);
      const slashed = await open("a/b");
      opened.push(slashed);
      expect(slashed.url).toBe(`file://${dir}/home/a%252Fb`);
      const dotted = await open(".keyring");
      opened.push(dotted);
      expect(dotted.url).toBe(`file://${dir}/home/%252Ekeyring`);
    } finally {
      if (previous === undefined) delete process.env.HEARTH_DIR;
      else process.env.HEARTH_DIR = previous;
    }
  });

  it("fsync durability works end to end", async () => {
    const options = { store: `file://${dir}/fsync`, keyring: `file://${dir}/keyring`, durability: "fsync" as const };
    const db = await open("fs", options);
    await Promise.all([db.put({ _id: "a" }), db.put({ _id: "b" })]);
    await db.close();
    const again = await open("fs", options);
    opened.push(again);
    expect((await again.allDocs()).rows).toHaveLength(2);
  });

  it("one corrupted byte in a stored block is INTEGRITY on read, never a wrong document", async () => {
    const { db, reopen } = await fileLedger();
    await db.bulk(Array.from({ length: 200 }, (_, i) => ({ _id: `d${i}`, i })));
    await db.close();
    const raw = await openFileStore(join(dir, "db"));
    const nodeKeys = await raw.list("nd/");
    for (const key of nodeKeys) {
      const bytes = (await raw.get(key))!;
      bytes[bytes.length >> 1]! ^= 0x40;
      await raw.write({ put: [[key, bytes]] });
    }
    await raw.close();
    const again = await reopen();
    await expect(again.allDocs()).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(again.get("d1")).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  it("a validly encrypted block whose content does not match its CID is INTEGRITY", async () => {
    const { db, reopen } = await fileLedger();
    await db.bulk([{ _id: "a", v: 1 }, { _id: "b", v: 2 }]);
    await db.close();
    // Someone holding the key swaps a node's plaintext: encryption is fine, the CID is not.
    const keyring = await openFileKeyring(join(dir, "keyring"));
    const store = await openEncryptedStore(await openFileStore(join(dir, "db")), keyring, { cipher: nodeCipher });
    const keys = await store.list("nd/");
    expect(keys.length).toBeGreaterThan(1);
    const values = await Promise.all(keys.map((k) => store.get(k)));
    // Rotate: every node now holds another node's (validly encrypted) content.
    await store.write({ put: keys.map((k, i) => [k, values[(i + 1) % keys.length]!] as const) });
    await store.close();
    await keyring.close();
    const again = await reopen();
    const reads = Promise.all([again.allDocs(), again.get("a"), again.get("b")]);
    await expect(reads).rejects.toMatchObject({ code: "INTEGRITY" });
  });
});

describe("cacheBytes", () => {
  it("refuses a budget that is not a whole number of bytes with INVALID_ARGUMENT", async () => {
    for (const cacheBytes of [-1, 1.5, Number.NaN, "64MB" as never]) {
      await expect(open("budget", { store: "memory://budget-bad", keyring: "memory://budget-bad-keys", cacheBytes })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
  });

  it("a ledger with no node cache at all reads everything from its store, correctly, after reopening", async () => {
    const options = { store: `file://${dir}/nocache`, keyring: `file://${dir}/keyring`, cacheBytes: 0 };
    const db = await open("nocache", options);
    await db.bulk(Array.from({ length: 3000 }, (_, i) => ({ _id: `doc-${String(i).padStart(5, "0")}`, i, even: i % 2 === 0 })));
    await db.close();
    const again = await open("nocache", options);
    opened.push(again);
    expect((await again.get("doc-01234"))?.i).toBe(1234);
    expect((await again.allDocs()).rows).toHaveLength(3000);
    expect((await again.query("even", { key: true })).rows).toHaveLength(1500);
  });
});
