// @hearth/fireproof used the way Fireproof's own tests and apps use @fireproof/core:
// fireproof(name) with no options, twice; close() then destroy(); the result shapes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fireproof, isNotFoundError, NotFoundError, type Database, type DocWithId } from "../src/index.js";

let dir: string;
let saved: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hearth-fireproof-"));
  saved = process.env.HEARTH_DIR;
  process.env.HEARTH_DIR = dir;
});
afterAll(() => {
  if (saved === undefined) delete process.env.HEARTH_DIR;
  else process.env.HEARTH_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
const dbs: Database[] = [];
function db(name = `fp-${++counter}`): Database {
  const d = fireproof(name);
  dbs.push(d);
  return d;
}
afterEach(async () => {
  // Fireproof's own tests end every case like this.
  for (const d of dbs.splice(0)) {
    await d.close();
    await d.destroy();
  }
});

describe("fireproof(name)", () => {
  it("returns at once; twice with one name gives two handles on one ledger, each closed on its own", async () => {
    const name = `shared-${++counter}`;
    const a = fireproof(name);
    const b = fireproof(name);
    expect(a).not.toBe(b);
    expect(a.name).toBe(name);
    const seen: string[] = [];
    b.subscribe((docs) => void seen.push(...docs.map((d) => d._id)), true);
    await a.put({ _id: "x", n: 1 });
    expect(await b.get("x")).toEqual({ _id: "x", n: 1 });
    await expect.poll(() => seen).toContain("x");
    await a.close();
    await a.close(); // idempotent here (Fireproof throws "LedgerShell mismatch")
    expect((await b.allDocs()).rows.map((r) => r.key)).toEqual(["x"]);
    await b.close();
    await b.destroy(); // after close, as Fireproof allows
    const again = db(name);
    expect((await again.allDocs()).rows).toEqual([]);
  });

  it("put, get, del/remove and bulk return Fireproof's shapes; a missing document is NotFoundError (ENOENT)", async () => {
    const d = db();
    const put = await d.put({ title: "milk" });
    expect(put).toMatchObject({ id: expect.any(String), name: d.name });
    expect(Array.isArray(put.clock)).toBe(true);
    expect(await d.get(put.id)).toEqual({ _id: put.id, title: "milk" });
    const bulk = await d.bulk([{ _id: "a", v: 1 }, { v: 2 }]);
    expect(bulk.ids).toHaveLength(2);
    expect(bulk.ids[0]).toBe("a");
    expect(bulk.name).toBe(d.name);
    expect(await d.del("a")).toMatchObject({ id: "a", name: d.name });
    expect(await d.remove("never-there")).toMatchObject({ id: "never-there" }); // no throw, as in Fireproof
    const err = await d.get("a").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(isNotFoundError(err)).toBe(true);
    expect(err).toMatchObject({ code: "ENOENT", message: expect.stringMatching(/Not found/) });
    await expect(d.get("")).rejects.toThrow("Doc id is required");
  });

  it("allDocs honours key, prefix, range, descending and limit (Fireproof ignores all but limit), and includeDeleted", async () => {
    const d = db();
    await d.bulk(["b1", "a1", "b2", "c"].map((id) => ({ _id: id })));
    await d.del("c");
    expect((await d.allDocs()).rows.map((r) => r.key)).toEqual(["a1", "b1", "b2"]);
    expect((await d.allDocs({ prefix: "b", descending: true })).rows.map((r) => r.key)).toEqual(["b2", "b1"]);
    expect((await d.allDocs({ key: "a1" })).rows.map((r) => r.key)).toEqual(["a1"]);
    expect((await d.allDocs({ range: ["a1", "b1"] })).rows.map((r) => r.key)).toEqual(["a1", "b1"]);
    expect((await d.allDocs({ limit: 2 })).rows.map((r) => r.key)).toEqual(["a1", "b1"]);
    const all = await d.allDocs({ includeDeleted: true });
    expect(all.rows.find((r) => r.key === "c")?.value).toEqual({ _id: "c", _deleted: true });
    expect(all.name).toBe(d.name);
  });

  it("changes([]) lists every document oldest first with a clock to continue from; limit keeps the most recent", async () => {
    const d = db();
    for (const id of ["one", "two", "three"]) await d.put({ _id: id });
    const first = await d.changes([]);
    expect(first.rows.map((r) => r.key)).toEqual(["one", "two", "three"]);
    await d.put({ _id: "one", again: true });
    const next = await d.changes(first.clock);
    expect(next.rows).toEqual([{ key: "one", value: { _id: "one", again: true } }]);
    expect((await d.changes([], { limit: 2 })).rows.map((r) => r.key)).toEqual(["three", "one"]);
  });

  it("query: rows with docs and a docs list by default; without includeDocs, rows only; prefix matches an array key's first item", async () => {
    const d = db();
    await d.bulk([
      { _id: "t1", list: "home", date: [2024, 11, 3] },
      { _id: "t2", list: "work", date: [2024, 12, 1] },
      { _id: "t3", list: "home", date: [2025, 1, 9] },
    ]);
    const byList = await d.query("list", { key: "home" });
    expect(byList.rows.map((r) => r.id)).toEqual(["t1", "t3"]);
    expect(byList.rows[0]).toMatchObject({ id: "t1", key: "home", value: null, doc: { _id: "t1", list: "home" } });
    expect(byList.docs?.map((doc) => doc._id)).toEqual(["t1", "t3"]);
    const bare = await d.query("list", { includeDocs: false });
    expect("docs" in bare).toBe(false);
    expect(bare.rows[0]).not.toHaveProperty("doc");
    expect((await d.query("date", { prefix: 2024 })).rows.map((r) => r.id)).toEqual(["t1", "t2"]);
    expect((await d.query("date", { prefix: [2024, 12] })).rows.map((r) => r.id)).toEqual(["t2"]);
    const mapped = await d.query<{ list?: string }>((doc, emit) => emit(doc.list === "home" ? 0 : 1, 0));
    expect(mapped.rows.map((r) => [r.id, r.key, r.value])).toEqual([["t1", 0, 0], ["t3", 0, 0], ["t2", 1, 0]]); // Fireproof turns the 0 value into null
    expect((await d.query("list", { key: "home", descending: true, limit: 1 })).rows.map((r) => r.id)).toEqual(["t3"]);
  });

  it("subscribe(fn, true) passes the changed documents; subscribe(fn) passes []; both return unsubscribe", async () => {
    const d = db();
    const updates: Array<Array<DocWithId>> = [];
    const ticks: unknown[][] = [];
    const stopUpdates = d.subscribe((docs) => void updates.push(docs), true);
    const stopTicks = d.subscribe((docs) => void ticks.push(docs));
    await d.ready();
    await d.put({ _id: "s", v: 1 });
    await d.del("s");
    await expect.poll(() => updates.length).toBe(2);
    expect(updates).toEqual([[{ _id: "s", v: 1 }], [{ _id: "s", _deleted: true }]]);
    await expect.poll(() => ticks).toEqual([[], []]);
    stopUpdates();
    stopTicks();
    await d.put({ _id: "after" });
    expect(updates).toHaveLength(2);
  });

  it("Uint8Array fields round-trip at any depth; _files take a File and read back with type, size, cid, car, lastModified and file()", async () => {
    const d = db();
    const bytes = new Uint8Array([1, 2, 3]);
    await d.put({ _id: "bin", top: bytes, nested: { list: [bytes] } });
    const bin = await d.get<{ top: Uint8Array; nested: { list: Uint8Array[] } }>("bin");
    expect(bin.top).toBeInstanceOf(Uint8Array);
    expect(bin.nested.list[0]).toEqual(bytes);
    const photo = new File([new Uint8Array(5_000).fill(7)], "photo.jpg", { type: "image/jpeg", lastModified: 1_700_000_000_000 });
    await d.put({ _id: "trip", title: "Alps", _files: { "photo.jpg": photo } });
    const trip = await d.get("trip");
    const meta = trip._files!["photo.jpg"] as { type: string; size: number; cid: string; car: string; lastModified: number; file(): Promise<File> };
    expect(meta).toMatchObject({ type: "image/jpeg", size: 5_000, lastModified: 1_700_000_000_000 });
    expect(meta.car).toBe(meta.cid);
    const back = await meta.file();
    expect(back.name).toBe("photo.jpg"); // Fireproof always says "file"
    expect(new Uint8Array(await back.arrayBuffer())).toEqual(new Uint8Array(5_000).fill(7));
    // Writing the document read back (with its file metadata) keeps its files.
    await d.put({ ...trip, title: "Alps 2" });
    expect((await d.get("trip"))._files!["photo.jpg"]).toMatchObject({ cid: meta.cid });
    await d.compact();
  });

  it("attach takes a Hearth sync point: two devices (separate keyrings) sync through it", async () => {
    const point = `memory://fp-point-${++counter}`;
    const a = fireproof(`dev-a-${counter}`, { store: `memory://dev-a-${counter}`, keyring: `memory://dev-a-keys-${counter}` });
    const b = fireproof(`dev-b-${counter}`, { store: `memory://dev-b-${counter}`, keyring: `memory://dev-b-keys-${counter}` });
    try {
      const sa = await a.attach(point);
      const device = await (await b.hearth()).device();
      const invitation = await sa.invite(device.publicKey);
      const sb = await (await b.hearth()).attach(point, { invitation });
      await a.put({ _id: "hello", from: "a" });
      await sa.synced();
      await sb.synced();
      expect(await b.get("hello")).toEqual({ _id: "hello", from: "a" });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
