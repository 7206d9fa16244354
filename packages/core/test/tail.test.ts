import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { CID } from "multiformats/cid";
import { afterEach, describe, expect, it } from "vitest";
import { encodeDagCbor } from "../src/codec/cbor.js";
import type { Ledger } from "../src/ledger/ledger.js";
import { META_KEY, TAIL_KEY } from "../src/ledger/keys.js";
import { openLedger } from "../src/ledger/open.js";
import { decodeTail, encodeTail, type Tail } from "../src/ledger/tail.js";
import type { WriteBatch } from "../src/store/types.js";
import { expectCode } from "./helpers/expect-code.js";
import { platformWithWrites } from "./helpers/store-platform.js";

// A close after a few changes, with nothing else changed since the last
// checkpoint, writes the overlays as a tail record instead of folding them
// into the trees (ledger/tail.ts). These tests hold it to what a
// checkpoint promises: the next open, and an open after a crash, see every
// change; every read (documents, change feed, queries, root) agrees.
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

type Doc = { _id: string; n: number };
const id = (i: number): string => `d${String(i).padStart(5, "0")}`;

/** A ledger directory, a way to open it (recording each batch its store writes), and the batches recorded. */
function place(): { dir: string; batches: WriteBatch[]; openAt: (dir?: string, drop?: (batch: WriteBatch) => WriteBatch) => Promise<Ledger> } {
  const dir = mkdtempSync(join(tmpdir(), "hearth-tail-"));
  dirs.push(dir);
  const batches: WriteBatch[] = [];
  const openAt = (at = dir, change?: (batch: WriteBatch) => WriteBatch): Promise<Ledger> =>
    openLedger("tail", { store: `file://${at}/db`, keyring: `file://${dir}/keyring` }, platformWithWrites((batch, options, write) => {
      batches.push(batch);
      return write(change ? change(batch) : batch, options);
    }));
  return { dir, batches, openAt };
}

const wrote = (batches: readonly WriteBatch[], key: string): boolean => batches.some((b) => b.put?.some(([k]) => k === key));

/** Every document as `allDocs` reads it, as [id, n]. */
async function docs(db: Ledger): Promise<Array<[string, number]>> {
  return (await db.allDocs()).rows.map((row) => [row.key, (row.value as unknown as Doc).n]);
}

/** The model's live documents, sorted by id. */
function live(model: Map<string, number | null>): Array<[string, number]> {
  return [...model.entries()].filter((e): e is [string, number] => e[1] !== null).sort(([a], [b]) => (a < b ? -1 : 1));
}

/** A place whose ledger a first session filled with 3,000 documents and closed with a checkpoint, and its model. */
async function seeded(): Promise<ReturnType<typeof place> & { model: Map<string, number | null> }> {
  const at = place();
  const model = new Map<string, number | null>();
  const db = await at.openAt();
  await db.bulk(Array.from({ length: 3_000 }, (_, i) => ({ _id: id(i), n: i })));
  for (let i = 0; i < 3_000; i++) model.set(id(i), i);
  await db.close();
  return { ...at, model };
}

/** A few writes at scattered places: rewrites, new documents, deletions. Returns the ids written and the clock after the last. */
async function fewWrites(db: Ledger, model: Map<string, number | null>, round: number): Promise<{ touched: Set<string>; clock: string[] }> {
  const touched = new Set<string>();
  for (let k = 0; k < 30; k++) {
    const target = id((round * 7_919 + k * 101) % 3_000);
    await db.put({ _id: target, n: -(round * 100 + k) });
    model.set(target, -(round * 100 + k));
    touched.add(target);
  }
  await db.put({ _id: `new-${round}`, n: round });
  model.set(`new-${round}`, round);
  const gone = id((round * 613 + 7) % 3_000);
  const { clock } = await db.del(gone);
  model.set(gone, null);
  return { touched: touched.add(`new-${round}`).add(gone), clock };
}

describe("tail record", () => {
  it("a close after a few changes writes the tail instead of a checkpoint, and the next open reads every change", async () => {
    const { batches, openAt, model } = await seeded();

    const db = await openAt();
    const clock = (await db.changes()).clock;
    batches.length = 0;
    // (Reading the change feed here would fold the trees, and the close would checkpoint.)
    const { touched, clock: heads } = await fewWrites(db, model, 1);
    await db.close();
    expect(wrote(batches, TAIL_KEY)).toBe(true);
    expect(wrote(batches, META_KEY)).toBe(false);

    const again = await openAt();
    expect(await docs(again)).toEqual(live(model));
    for (const [key, n] of live(model).slice(0, 50)) expect(((await again.get(key)) as unknown as Doc).n).toBe(n);
    await expectCode(again.get(id((613 + 7) % 3_000)), "NOT_FOUND");
    // The change feed goes on from where the last session left it, and a clock from before it still works.
    const since = await again.changes(clock);
    expect(since.rows.map((row) => row.key).sort()).toEqual([...touched].sort());
    expect(since.clock).toEqual(heads);
    expect((await again.query("n", { range: [-200, -1] })).rows).toHaveLength(30);
    // Folding the tail's changes gives the root a checkpoint then keeps.
    const root = await again.root();
    await again.close();
    const third = await openAt();
    expect(await third.root()).toEqual(root);
    expect(await docs(third)).toEqual(live(model));
    await third.close();
  });

  it("tails add up over short sessions; once past 1,000 changes a close checkpoints and deletes the tail in the same batch", async () => {
    const { batches, openAt, model } = await seeded();
    const closes: WriteBatch[][] = [];
    for (let session = 1; session <= 4; session++) {
      const db = await openAt();
      const from = batches.length;
      await db.bulk(Array.from({ length: 300 }, (_, k) => ({ _id: id((session * 2_111 + k * 37) % 3_000), n: session * 1_000 + k })));
      for (let k = 0; k < 300; k++) model.set(id((session * 2_111 + k * 37) % 3_000), session * 1_000 + k);
      const beforeClose = batches.length;
      await db.close();
      expect(batches.length).toBeGreaterThan(from);
      closes.push(batches.slice(beforeClose));
      expect(await docsAfterReopen(openAt)).toEqual(live(model));
    }
    // 300, 600, 900 changes: tails; 1,200: a checkpoint, which takes the tail away with it.
    expect(closes.map((c) => wrote(c, TAIL_KEY))).toEqual([true, true, true, false]);
    expect(closes.map((c) => wrote(c, META_KEY))).toEqual([false, false, false, true]);
    expect(closes[3]!.some((b) => b.put?.some(([k]) => k === META_KEY) && b.del?.includes(TAIL_KEY))).toBe(true);
  });

  it("a session that crashes after opening on a tail keeps every acknowledged write: the tail, then its own events", async () => {
    const { dir, openAt, model } = await seeded();
    const first = await openAt();
    await fewWrites(first, model, 1);
    await first.close();

    const second = await openAt();
    await fewWrites(second, model, 2);
    // A copy of the directory while the session is open: what a crash (or a power cut under "fsync") leaves.
    const copy = join(dir, "copy");
    cpSync(join(dir, "db"), join(copy, "db"), { recursive: true });
    await second.close();

    const recovered = await openAt(copy);
    expect(await docs(recovered)).toEqual(live(model));
    expect((await recovered.changes()).rows).toHaveLength(live(model).length + 2);
    await recovered.close();
  });

  it("a session that folded its trees or built an index checkpoints at close, as before", async () => {
    const { batches, openAt, model } = await seeded();
    const db = await openAt();
    await fewWrites(db, model, 1);
    expect((await db.query("n", { range: [-200, -1] })).rows).toHaveLength(30);
    batches.length = 0;
    await db.close();
    expect(wrote(batches, META_KEY)).toBe(true);
    expect(wrote(batches, TAIL_KEY)).toBe(false);
    const again = await openAt();
    expect(await docs(again)).toEqual(live(model));
    await again.close();
  });

  it("a tail left behind by a later checkpoint is not taken: the events after that checkpoint are replayed", async () => {
    const { openAt, model } = await seeded();
    const first = await openAt();
    await fewWrites(first, model, 1);
    await first.close();
    // The next checkpoint (forced by a read that folds, then the close) fails to delete the tail.
    const keep = (batch: WriteBatch): WriteBatch => ({ ...batch, del: batch.del?.filter((key) => key !== TAIL_KEY) });
    const second = await openAt(undefined, keep);
    await fewWrites(second, model, 2);
    await second.root();
    await second.close();
    const third = await openAt();
    await fewWrites(third, model, 3);
    await third.close();
    const last = await openAt();
    expect(await docs(last)).toEqual(live(model));
    await last.close();
  });
});

/** Runs of the sessions property (`HEARTH_TAIL_PROP_RUNS` raises it for a longer campaign). */
const TAIL_PROP_RUNS = Number(process.env.HEARTH_TAIL_PROP_RUNS ?? 20);

describe("tail record property", () => {
  /** One session: bulks of writes and deletions, perhaps a read that folds, then a clean close or a crash. */
  const session = fc.record({
    writes: fc.array(
      fc.oneof(
        fc.record({ put: fc.uniqueArray(fc.integer({ min: 0, max: 399 }), { minLength: 1, maxLength: 150 }), n: fc.integer({ min: -1_000, max: 1_000 }) }),
        fc.record({ del: fc.integer({ min: 0, max: 399 }) }),
      ),
      { maxLength: 8 },
    ),
    fold: fc.boolean(),
    crash: fc.boolean(),
  });

  it("any run of short and long sessions, clean closes and crashes, reads back every acknowledged write", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 6 }), async (sessions) => {
        const { dir, openAt } = place();
        const model = new Map<string, number | null>();
        const db = await openAt();
        let clock = (await db.bulk(Array.from({ length: 400 }, (_, i) => ({ _id: id(i), n: i })))).clock;
        for (let i = 0; i < 400; i++) model.set(id(i), i);
        await db.close();
        let at = dir;
        for (const [s, { writes, fold, crash }] of sessions.entries()) {
          const open = await openAt(at);
          for (const write of writes) {
            if ("put" in write) {
              clock = (await open.bulk(write.put.map((i) => ({ _id: id(i), n: write.n + i })))).clock;
              for (const i of write.put) model.set(id(i), write.n + i);
            } else if (model.get(id(write.del)) !== undefined && model.get(id(write.del)) !== null) {
              clock = (await open.del(id(write.del))).clock;
              model.set(id(write.del), null);
            }
          }
          if (fold) await open.root();
          if (crash) {
            // What a crash leaves: the store as it is while the session is open, opened elsewhere.
            const copy = join(dir, `crash-${s}`);
            cpSync(join(at, "db"), join(copy, "db"), { recursive: true });
            await open.close();
            at = copy;
          } else {
            await open.close();
          }
          // A read that folds nothing leaves the tail as it is; the change feed (which folds) is read from a copy.
          const again = await openAt(at);
          expect(await docs(again)).toEqual(live(model));
          await again.close();
          const check = join(dir, `check-${s}`);
          cpSync(join(at, "db"), join(check, "db"), { recursive: true });
          const copy = await openAt(check);
          const page = await copy.changes();
          // The heads, and so the clock, are what the last acknowledged write left.
          expect(page.clock).toEqual(clock);
          const feed = page.rows.map((row) => row.key);
          expect(new Set(feed).size).toBe(feed.length);
          expect(feed.sort()).toEqual([...model.keys()].sort());
          await copy.close();
        }
      }),
      { numRuns: TAIL_PROP_RUNS },
    );
  });
});

describe("tail record format", () => {
  const tail: Tail = {
    v: 1,
    after: { events: 3, seq: 40 },
    events: 5,
    seq: 42,
    lamport: 9,
    heads: [CID.parse("bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")],
    state: [["a", new Uint8Array([0xa0])]],
    local: [["s/1", "a"], ["s/0", null]],
  };

  it("round-trips", () => {
    expect(decodeTail(encodeTail(tail))).toEqual(tail);
  });

  it("one of a later version is left alone (its events are replayed); anything else that is not a tail is INTEGRITY", async () => {
    expect(decodeTail(encodeDagCbor({ ...tail, v: 2 }))).toBeUndefined();
    await expectCode(Promise.resolve().then(() => decodeTail(new Uint8Array([0xff, 0x00]))), "INTEGRITY");
    await expectCode(Promise.resolve().then(() => decodeTail(encodeDagCbor({ ...tail, seq: 40 }))), "INTEGRITY");
    await expectCode(Promise.resolve().then(() => decodeTail(encodeDagCbor({ ...tail, state: [["a", "not bytes"]] }))), "INTEGRITY");
  });
});

/** Every document a reopen finds (read, then closed again: a read-only session writes nothing). */
async function docsAfterReopen(openAt: () => Promise<Ledger>): Promise<Array<[string, number]>> {
  const db = await openAt();
  const found = await docs(db);
  await db.close();
  return found;
}
