import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "../src/index.node.js";
import { checkpointInterval } from "../src/ledger/ledger.js";
import { META_KEY } from "../src/ledger/keys.js";
import { openLedger } from "../src/ledger/open.js";
import { openMemoryStore } from "../src/store/memory.js";
import { eventually } from "./helpers/eventually.js";
import { platformWithWrites } from "./helpers/store-platform.js";

// A checkpoint starts after 10,000 changes (5,000 in key order on the file
// and memory stores) and folds in slices with other work in between.
// Writes, deletes and every kind of read racing it must see exactly what
// was written, and a reopen must find the same state.
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("background checkpoints", () => {
  it("reads and writes racing a sliced checkpoint see exact data, and reopen finds the same root", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hearth-checkpoint-"));
    dirs.push(dir);
    const options = { store: `file://${dir}/db`, keyring: `file://${dir}/keyring` };
    const db = await open("cp", options);
    const model = new Map<string, number | null>();
    const id = (i: number): string => `d${String(i).padStart(5, "0")}`;

    // 10,000 changes in one commit: the background checkpoint starts right after.
    await db.bulk(Array.from({ length: 10_000 }, (_, i) => ({ _id: id(i), n: i })));
    for (let i = 0; i < 10_000; i++) model.set(id(i), i);

    // While it slices: overwrite, delete, add, and read every way. Slices
    // wait for a later turn of the event loop, so each round yields one.
    const racing: Array<Promise<unknown>> = [];
    for (let round = 0; round < 20; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      const target = (round * 487) % 10_000;
      racing.push(db.put({ _id: id(target), n: -(round + 1) }));
      model.set(id(target), -(round + 1));
      racing.push(db.del(id(target + 1)));
      model.set(id(target + 1), null);
      racing.push(db.put({ _id: `new${round}`, n: round }));
      model.set(`new${round}`, round);
      racing.push(db.allDocs({ prefix: "d0", limit: 5 }));
      racing.push(db.get(id(9_999)));
      if (round % 5 === 0) racing.push(db.query("n", { range: [0, 3] }), db.changes([], { limit: 3 }));
    }
    await Promise.all(racing);

    const live = [...model.entries()].filter(([, v]) => v !== null).sort(([a], [b]) => (a < b ? -1 : 1));
    const rows = (await db.allDocs()).rows;
    expect(rows.map((r) => r.key)).toEqual(live.map(([k]) => k));
    expect(rows.map((r) => (r.value as unknown as { n: number }).n)).toEqual(live.map(([, v]) => v));
    expect((await db.query("n", { range: [-20, -1] })).rows).toHaveLength(20);
    expect((await db.changes()).rows).toHaveLength(model.size);
    const root = await db.root();
    await db.close();

    const again = await open("cp", options);
    try {
      expect(await again.root()).toBe(root);
      expect((await again.allDocs()).rows.map((r) => r.key)).toEqual(live.map(([k]) => k));
      expect((await again.query("n", { range: [-20, -1] })).rows).toHaveLength(20);
    } finally {
      await again.close();
    }
  });

  it("keeps up with writes that never yield to the event loop", async () => {
    const url = `memory://checkpoint-pressure-${Math.random()}`;
    const db = await open("pressure", { store: url, keyring: "memory://checkpoint-pressure" });
    const raw = await openMemoryStore(url);
    const checkpointed = async (): Promise<boolean> => (await raw.get("meta")) !== undefined;
    // Two intervals in one commit: the background checkpoint starts and waits for a turn that never comes.
    await db.bulk(Array.from({ length: 20_000 }, (_, i) => ({ _id: `d${i}` })));
    let puts = 0;
    // Every awaited put resolves without an event-loop turn; being far behind, each commit runs a slice.
    while (!(await checkpointed()) && puts < 200) await db.put({ _id: `p${puts++}` });
    expect(await checkpointed()).toBe(true);
    expect(puts).toBeLessThan(200);
    await db.close();
  });
});

describe("checkpoint interval", () => {
  it("is 5,000 changes while the trees fold in order on stores with cheap records, 10,000 when scattered or where records are costly", () => {
    const cheap = { supports: { persistent: true, fsync: true } } as const;
    const costly = { supports: { persistent: true, fsync: false, recordOverhead: 300 } } as const;
    expect(checkpointInterval(true, cheap)).toBe(5_000);
    expect(checkpointInterval(false, cheap)).toBe(10_000);
    expect(checkpointInterval(true, costly)).toBe(10_000);
    expect(checkpointInterval(false, costly)).toBe(10_000);
  });

  it("a file-store ledger loaded in key order checkpoints in the background once 5,000 changes are in", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hearth-checkpoint-"));
    dirs.push(dir);
    let metaWrites = 0;
    const platform = platformWithWrites((batch, writeOptions, write) => {
      if (batch.put?.some(([key]) => key === META_KEY)) metaWrites++;
      return write(batch, writeOptions);
    });
    const db = await openLedger("in-order", { store: `file://${dir}/db`, keyring: `file://${dir}/keyring` }, platform);
    const id = (i: number): string => `d${String(i).padStart(5, "0")}`;
    for (let from = 0; from < 4_000; from += 1_000) await db.bulk(Array.from({ length: 1_000 }, (_, i) => ({ _id: id(from + i), n: from + i })));
    const before = metaWrites;
    await db.bulk(Array.from({ length: 1_000 }, (_, i) => ({ _id: id(4_000 + i), n: 4_000 + i })));
    // Background work: it writes its checkpoint once its slices are done, with no further writes or reads.
    await eventually(() => expect(metaWrites).toBeGreaterThan(before), { what: "a background checkpoint after 5,000 changes in order", timeoutMs: 10_000 });
    expect((await db.allDocs()).rows).toHaveLength(5_000);
    await db.close();
  });
});
