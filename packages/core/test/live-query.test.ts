// Live queries (ledger/live-query.ts): after any sequence of writes, the
// live result equals a fresh query with the same options, and updates come
// from the changed documents, not from reading the query again.
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { liveAllDocs, liveQuery, open, type AllDocsOptions, type DocRow, type Ledger, type LiveQueryResult, type MapFn, type QueryOptions } from "../src/index.node.js";
import { eventually } from "./helpers/eventually.js";

const opened: Ledger[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => undefined);
});

/** Closes a property run's ledger at the end of its run (thousands of runs must not all stay open until the hook). */
async function closeRun(db: Ledger): Promise<void> {
  opened.splice(opened.indexOf(db), 1);
  await db.close();
}

async function memoryLedger(): Promise<Ledger> {
  const name = `live-${Math.random().toString(36).slice(2)}`;
  const db = await open(name, { store: `memory://${name}`, keyring: `memory://${name}-keys` });
  opened.push(db);
  return db;
}

/** A live query whose latest result is at hand. */
function watch(db: Ledger, spec: string | MapFn, options: QueryOptions): { latest(): LiveQueryResult | undefined; stop(): void; errors: unknown[] } {
  let latest: LiveQueryResult | undefined;
  const errors: unknown[] = [];
  const stop = liveQuery(db, spec, { ...options, onError: (e) => errors.push(e) }, (result) => (latest = result));
  return { latest: () => latest, stop, errors };
}

const RUNS = Number(process.env.HEARTH_LIVE_PROP_RUNS ?? 60);
/** Each property's deadline, grown with a raised campaign (a run takes ~5 ms). */
const PROP_TIMEOUT_MS = Math.max(60_000, RUNS * 20);

describe("liveQuery", () => {
  it("matches a fresh query after every write, whatever the options (property)", async () => {
    const value = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom("a", "ab", "b", ""), fc.constant(null), fc.boolean(), fc.constant([1, "x"]));
    const op = fc.oneof(
      fc.record({ t: fc.constant("put" as const), id: fc.nat(7), v: value, w: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ t: fc.constant("del" as const), id: fc.nat(7) }),
      fc.record({ t: fc.constant("bulk" as const), ids: fc.array(fc.nat(7), { minLength: 1, maxLength: 4 }), v: value }),
    );
    const selection = fc.oneof(
      fc.constant({}),
      fc.record({ key: value }),
      fc.record({ keys: fc.array(value, { maxLength: 3 }) }),
      fc.record({ prefix: fc.constantFrom("a", "") }),
      fc.record({ range: fc.tuple(value, value) }),
    );
    const options = fc.record({ descending: fc.boolean(), includeDocs: fc.boolean(), limit: fc.option(fc.nat(4), { nil: undefined }) });
    const specs: Array<string | MapFn> = ["v", (doc, emit) => {
      if (typeof doc.w === "number") for (let i = 0; i < doc.w; i++) emit(i % 2 === 0 ? doc.v ?? null : [doc.w, i], i);
    }];
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), selection, options, fc.nat(1), async (ops, select, opts, which) => {
        const db = await memoryLedger();
        const query = { ...select, ...opts } as QueryOptions;
        const live = watch(db, specs[which]!, query);
        try {
          for (const o of ops) {
            if (o.t === "put") await db.put({ _id: `d${o.id}`, v: o.v, w: o.w });
            else if (o.t === "bulk") await db.bulk(o.ids.map((id) => ({ _id: `d${id}`, v: o.v })));
            else await db.del(`d${o.id}`).catch(() => undefined);
            const fresh = await db.query(specs[which]!, query);
            await eventually(() => expect(live.latest()?.rows).toEqual(fresh.rows), { timeoutMs: 2_000, what: "the live rows to match a fresh query" });
            if (query.includeDocs) expect(live.latest()!.docs).toEqual(fresh.rows.map((r) => r.doc));
          }
          expect(live.errors).toEqual([]);
        } finally {
          live.stop();
          await closeRun(db);
        }
      }),
      { numRuns: RUNS },
    );
  }, PROP_TIMEOUT_MS);

  it("liveAllDocs matches a fresh allDocs after every write, whatever the options (property)", async () => {
    const id = fc.constantFrom("a", "a\u0000", "ab", "b", "b1", "c");
    const op = fc.oneof(
      fc.record({ t: fc.constant("put" as const), id, v: fc.nat(3) }),
      fc.record({ t: fc.constant("del" as const), id }),
      fc.record({ t: fc.constant("bulk" as const), ids: fc.array(id, { minLength: 1, maxLength: 3 }), v: fc.nat(3) }),
    );
    const selection = fc.oneof(
      fc.constant({}),
      fc.record({ key: id }),
      fc.record({ keys: fc.array(id, { maxLength: 3 }) }),
      fc.record({ prefix: fc.constantFrom("a", "b", "") }),
      fc.record({ range: fc.tuple(id, id) }),
    );
    const options = fc.record({ descending: fc.boolean(), includeDeleted: fc.boolean(), limit: fc.option(fc.nat(4), { nil: undefined }) });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), selection, options, async (ops, select, opts) => {
        const db = await memoryLedger();
        const read = { ...select, ...opts } as AllDocsOptions;
        let latest: readonly DocRow[] | undefined;
        const stop = liveAllDocs(db, read, (rows) => (latest = rows));
        try {
          for (const o of ops) {
            if (o.t === "put") await db.put({ _id: o.id, v: o.v });
            else if (o.t === "bulk") await db.bulk(o.ids.map((i) => ({ _id: i, v: o.v })));
            else await db.del(o.id).catch(() => undefined);
            const fresh = await db.allDocs(read);
            await eventually(() => expect(latest).toEqual(fresh.rows), { timeoutMs: 2_000, what: "the live rows to match a fresh allDocs" });
          }
        } finally {
          stop();
          await closeRun(db);
        }
      }),
      { numRuns: RUNS },
    );
  }, PROP_TIMEOUT_MS);

  it("updates from the changed documents: a write does not read the query again", async () => {
    const db = await memoryLedger();
    await db.bulk(Array.from({ length: 100 }, (_, i) => ({ _id: `t${String(i).padStart(3, "0")}`, done: i % 2 === 0 })));
    let reads = 0;
    const query = db.query.bind(db);
    db.query = ((...args: Parameters<Ledger["query"]>) => (reads++, query(...args))) as Ledger["query"];
    const live = watch(db, "done", { key: false });
    await eventually(() => expect(live.latest()?.rows).toHaveLength(50));
    expect(reads).toBe(1);
    await db.put({ _id: "t000", done: false });
    await db.del("t001");
    await db.bulk([{ _id: "new", done: false }, { _id: "t003", done: true }]);
    await eventually(() => expect(live.latest()?.rows).toHaveLength(50));
    expect(live.latest()!.rows.map((r) => r.id).slice(0, 3)).toEqual(["new", "t000", "t005"]);
    expect(reads).toBe(1);
    live.stop();
  });

  it("writes made while the first read runs are not lost", async () => {
    const db = await memoryLedger();
    const live = watch(db, "n", {});
    const writes = Array.from({ length: 20 }, (_, i) => db.put({ _id: `w${i}`, n: i }));
    await Promise.all(writes);
    await eventually(() => expect(live.latest()?.rows.map((r) => r.key)).toEqual(Array.from({ length: 20 }, (_, i) => i)));
    live.stop();
  });

  it("invalid options and a closed ledger throw at once; a map function that throws reports INVALID_ARGUMENT and stops", async () => {
    const db = await memoryLedger();
    expect(() => liveQuery(db, "x", { key: 1, prefix: "a" }, () => undefined)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    await db.put({ _id: "bad", x: 1 });
    const errors: unknown[] = [];
    const results: unknown[] = [];
    liveQuery(db, (doc) => (doc._id === "worse" ? (doc as unknown as { nope: { x: number } }).nope.x : doc.x), { onError: (e) => errors.push(e) }, (r) => results.push(r));
    await eventually(() => expect(results).toHaveLength(1));
    await db.put({ _id: "worse" });
    await eventually(() => expect(errors).toMatchObject([{ code: "INVALID_ARGUMENT" }]));
    await db.put({ _id: "later", x: 2 });
    expect(results).toHaveLength(1);
    await db.close();
    expect(() => liveQuery(db, "x", {}, () => undefined)).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
  });
});
