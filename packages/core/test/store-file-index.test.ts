// The file store's index snapshot (store/file-index-run.ts): a clean close
// writes it, the next open reads it instead of replaying the log, and it is
// used only for exactly the log it was made from.
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openFileStore, type FileByteStore } from "../src/store/file.js";
import fc from "fast-check";
import { INDEX_FILE, IndexRun, PAGE_ENTRIES, type LogIdentity } from "../src/store/file-index-run.js";
import { LogIndex } from "../src/store/file-index.js";
import { DELTA_MAX_KEYS, INDEX_DELTA_FILE } from "../src/store/file-index-delta.js";
import type { LogFile } from "../src/store/file-log.js";
import { expectCode } from "./helpers/expect-code.js";
import { utf8 } from "../src/testing/harness.js";

const root = fs.mkdtempSync(join(tmpdir(), "hearth-store-index-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => join(root, `case-${counter++}`);
/** Runs of the model property (`HEARTH_STORE_INDEX_RUNS` raises it for a longer campaign). */
const MODEL_RUNS = Number(process.env.HEARTH_STORE_INDEX_RUNS ?? 40);
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

/** Everything the store holds, as key → text. */
async function contents(store: FileByteStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await store.list("")) out.set(key, text(await store.get(key))!);
  return out;
}

describe("index run (paged snapshot table)", () => {
  it("finds, bounds and lists exactly as a sorted array does, built in memory and read back from its file", async () => {
    const identity: LogIdentity = { generation: 3, size: 12_345, dev: 7n, ino: 11n, mtimeNs: 1_700_000_000_123_456_789n };
    const key = fc.stringMatching(/^[!-~]{1,12}$/);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(key, { maxLength: 3 * PAGE_ENTRIES + 7 }), fc.array(key, { maxLength: 40 }), async (unsorted, probes) => {
        const keys = [...unsorted].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const offsets = keys.map((_, i) => i * 1000 + 17);
        const lengths = keys.map((k) => k.length * 3);
        const built = IndexRun.build(keys, offsets, lengths);
        const dir = freshDir();
        fs.mkdirSync(dir, { recursive: true });
        await built.write(dir, identity);
        const read = IndexRun.read(dir, identity);
        expect(read).toBeDefined();
        expect(IndexRun.read(dir, { ...identity, size: identity.size + 1 })).toBeUndefined(); // another state of the log
        try {
          for (const run of [built, read!]) {
            expect(run.count).toBe(keys.length);
            keys.forEach((k, i) => {
              expect(run.find(k)).toBe(i);
              expect(run.keyAt(i)).toBe(k);
              expect(run.offsetAt(i)).toBe(offsets[i]);
              expect(run.lengthAt(i)).toBe(lengths[i]);
            });
            for (const probe of [...probes, "", "~~~~~~~~~~~~~"]) {
              const lower = keys.findIndex((k) => k >= probe);
              expect(run.lowerBound(probe)).toBe(lower < 0 ? keys.length : lower);
              expect(run.find(probe)).toBe(keys.indexOf(probe));
            }
          }
        } finally {
          read?.release();
        }
      }),
      { numRuns: 60 },
    );
  });

  it("merges a base (less the entries marked dropped) with an overlay into the run built from the merged entries, base read from its file or in memory", async () => {
    const identity: LogIdentity = { generation: 1, size: 999, dev: 1n, ino: 2n, mtimeNs: 1_700_000_000_000_000_001n };
    const key = fc.stringMatching(/^[!-~]{1,10}$/);
    const sorted = (keys: string[]): string[] => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(key, { maxLength: 2 * PAGE_ENTRIES + 9 }),
        fc.uniqueArray(key, { maxLength: PAGE_ENTRIES + 5 }),
        fc.boolean(),
        fc.infiniteStream(fc.boolean()),
        async (baseUnsorted, overlayUnsorted, fromFile, drops) => {
          const baseKeys = sorted(baseUnsorted);
          const overlayKeys = sorted(overlayUnsorted);
          const built = IndexRun.build(baseKeys, baseKeys.map((_, i) => 10 * i + 1), baseKeys.map((k) => k.length));
          let base = built;
          if (fromFile) {
            const dir = freshDir();
            fs.mkdirSync(dir, { recursive: true });
            await built.write(dir, identity);
            base = IndexRun.read(dir, identity)!;
          }
          try {
            // Marked dropped at random; a base key the overlay also has is left unmarked sometimes (the overlay must still win).
            const dropped = Uint8Array.from(baseKeys, () => (drops.next().value ? 1 : 0));
            const location = new Map<string, [number, number]>();
            baseKeys.forEach((k, i) => dropped[i] === 0 && location.set(k, [10 * i + 1, k.length]));
            overlayKeys.forEach((k, j) => location.set(k, [7 * j + 100_000, j]));
            const keys = sorted([...location.keys()]);
            const merged = IndexRun.merge(base, dropped, { keys: overlayKeys, offsetAt: (j) => 7 * j + 100_000, lengthAt: (j) => j });
            const expected = IndexRun.build(keys, keys.map((k) => location.get(k)![0]), keys.map((k) => location.get(k)![1]));
            expect(merged.count).toBe(keys.length);
            expect(merged.liveBytes).toBe(expected.liveBytes);
            keys.forEach((k, i) => {
              expect(merged.keyAt(i)).toBe(k);
              expect(merged.find(k)).toBe(i);
              expect([merged.offsetAt(i), merged.lengthAt(i)]).toEqual(location.get(k));
            });
            // Byte for byte the file the merged entries make.
            const [a, b] = [freshDir(), freshDir()];
            fs.mkdirSync(a, { recursive: true });
            fs.mkdirSync(b, { recursive: true });
            await merged.write(a, identity);
            await expected.write(b, identity);
            expect(fs.readFileSync(join(a, INDEX_FILE)).equals(fs.readFileSync(join(b, INDEX_FILE)))).toBe(true);
          } finally {
            if (fromFile) base.release();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("file store index snapshot", () => {
  it("a clean close writes the index; the next open reads it instead of the log, and sees everything", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    expect(store.openedFrom).toBe("log");
    await store.write({ put: Array.from({ length: 500 }, (_, i) => [`k/${String(i).padStart(4, "0")}`, utf8(`v${i}`)] as const) });
    await store.write({ del: ["k/0007"], put: [["other", utf8("x")]] });
    await store.close();
    expect(fs.existsSync(join(dir, INDEX_FILE))).toBe(true);

    const again = await openFileStore(dir);
    expect(again.openedFrom).toBe("index");
    expect(await again.list("k/")).toHaveLength(499);
    expect(await again.get("k/0007")).toBeUndefined();
    expect(text(await again.get("k/0123"))).toBe("v123");
    expect(await again.list("k/001")).toEqual(Array.from({ length: 10 }, (_, i) => `k/001${i}`));
    // Writes on top of the snapshot: puts over, deletes of and new keys beside base keys.
    await again.write({ del: ["k/0001"], put: [["k/0002", utf8("changed")], ["k/0002a", utf8("new")]] });
    expect(await again.list("k/000")).toEqual(["k/0000", "k/0002", "k/0002a", "k/0003", "k/0004", "k/0005", "k/0006", "k/0008", "k/0009"]);
    expect(text(await again.get("k/0002"))).toBe("changed");
    await again.close();

    const third = await openFileStore(dir);
    expect(third.openedFrom).toBe("index");
    expect(await third.list("k/000")).toEqual(["k/0000", "k/0002", "k/0002a", "k/0003", "k/0004", "k/0005", "k/0006", "k/0008", "k/0009"]);
    expect(text(await third.get("k/0002"))).toBe("changed");
    await third.close();
  });

  it("an index from an earlier state of the log is not used: the open replays, and loses nothing", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: [["a", utf8("1")]] });
    await store.close();
    const oldIndex = fs.readFileSync(join(dir, INDEX_FILE));

    const again = await openFileStore(dir);
    await again.write({ put: [["b", utf8("2")]], del: ["a"] });
    await again.close();
    // A close after a few writes leaves the snapshot and writes its delta (file-index-delta.ts)...
    expect(fs.readFileSync(join(dir, INDEX_FILE))).toEqual(oldIndex);
    const viaDelta = await openFileStore(dir);
    expect(viaDelta.openedFrom).toBe("index");
    expect(await contents(viaDelta)).toEqual(new Map([["b", "2"]]));
    await viaDelta.close();
    // ...without which the older snapshot is not used, as after a crash that left it beside a longer log.
    fs.rmSync(join(dir, INDEX_DELTA_FILE));

    const third = await openFileStore(dir);
    expect(third.openedFrom).toBe("log");
    expect(await contents(third)).toEqual(new Map([["b", "2"]]));
    await third.close();
  });

  it("an index with a damaged top, truncated or extended is ignored at open", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: Array.from({ length: 1000 }, (_, i) => [`k${i}`, utf8(`v${i}`)] as const) });
    await store.close();
    const good = fs.readFileSync(join(dir, INDEX_FILE));
    const top = good.readUInt32LE(80); // where the pages start (see file-index-run.ts)
    for (const damaged of [good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([0])]), flipped(good, 20), flipped(good, 100), flipped(good, top - 1)]) {
      fs.writeFileSync(join(dir, INDEX_FILE), damaged);
      const again = await openFileStore(dir);
      expect(again.openedFrom).toBe("log");
      expect((await contents(again)).size).toBe(1000);
      await again.close(); // nothing written: the index it leaves is rewritten only when stale
      fs.writeFileSync(join(dir, INDEX_FILE), good);
    }
  });

  it("a page found damaged when first read fails that read with INTEGRITY, and the next open replays the log", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: Array.from({ length: 1000 }, (_, i) => [`k${String(i).padStart(4, "0")}`, utf8(`v${i}`)] as const) });
    await store.close();
    // The last byte (the last page's padding or key), then one in the middle of the pages.
    for (const where of ["last", "middle"]) {
      const good = fs.readFileSync(join(dir, INDEX_FILE)); // each close stamps the log anew: the index of the last one
      const pagesAt = good.readUInt32LE(80);
      const at = where === "last" ? good.length - 1 : pagesAt + Math.floor((good.length - pagesAt) / 2);
      fs.writeFileSync(join(dir, INDEX_FILE), flipped(good, at));
      const again = await openFileStore(dir);
      expect(again.openedFrom).toBe("index"); // the open reads the top only
      await expectCode(contents(again), "INTEGRITY");
      await again.close();
      expect(fs.existsSync(join(dir, INDEX_FILE))).toBe(false);
      const replayed = await openFileStore(dir);
      expect(replayed.openedFrom).toBe("log");
      expect((await contents(replayed)).size).toBe(1000);
      await replayed.close(); // writes a good index again
    }
  });

  it("a log changed in place after the close (same size) is replayed, so damage is still refused", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    for (let i = 0; i < 5; i++) await store.write({ put: [[`k${i}`, utf8(`value ${i}`)]] });
    await store.close();
    const [log] = fs.readdirSync(dir).filter((n) => n.endsWith(".hlog"));
    const bytes = fs.readFileSync(join(dir, log!));
    bytes[40] = bytes[40]! ^ 0x5a;
    fs.writeFileSync(join(dir, log!), bytes); // at once: within the same clock tick as the close
    await expect(openFileStore(dir)).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  it("an overlay that outgrows its base is folded into it while writing; reads, lists and reopens stay exact", async () => {
    const dir = freshDir();
    const model = new Map<string, string>();
    const store = await openFileStore(dir);
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let batch = 0; batch < 40; batch++) {
      const put: Array<readonly [string, Uint8Array]> = [];
      const del: string[] = [];
      for (let k = 0; k < 500; k++) {
        const key = `key/${String(random(15_000)).padStart(5, "0")}`;
        if (random(5) === 0) {
          del.push(key);
          model.delete(key);
          put.splice(0, put.length, ...put.filter(([p]) => p !== key));
        } else {
          const value = `v${batch}-${k}`;
          put.push([key, utf8(value)]);
          model.set(key, value);
        }
      }
      await store.write({ del, put });
      if (batch % 10 === 9) {
        expect(await store.list("key/")).toEqual([...model.keys()].sort());
        for (const key of [...model.keys()].slice(0, 50)) expect(text(await store.get(key))).toBe(model.get(key));
      }
    }
    const expected = new Map([...model].sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(await contents(store)).toEqual(expected);
    await store.close();
    const again = await openFileStore(dir);
    expect(again.openedFrom).toBe("index");
    expect(await contents(again)).toEqual(expected);
    await again.close();
    fs.rmSync(join(dir, INDEX_FILE));
    const replayed = await openFileStore(dir);
    expect(replayed.openedFrom).toBe("log");
    expect(await contents(replayed)).toEqual(expected);
    await replayed.close();
  });

  it("an overlay folded while a compaction copies the log is moved with the rest at the switch", () => {
    // The index alone, as the store drives it: compaction takes its entries, writes go on into the
    // old log (folding the overlay into a new base), then the switch relocates everything.
    const oldLog = { generation: 1 } as LogFile;
    const newLog = { generation: 2 } as LogFile;
    const index = new LogIndex();
    const model = new Map<string, number>(); // key → offset in the old log
    let end = 0;
    const put = (key: string): void => {
      index.put(key, oldLog, end, 10);
      model.set(key, end);
      end += 20;
    };
    for (let i = 0; i < 5_000; i++) put(`a/${String(i).padStart(5, "0")}`);
    index.foldIfLarge(oldLog);
    for (let i = 0; i < 300; i++) put(`b/${i}`);
    // Compaction begins: it copies these entries, in file order, to the new log.
    const entries = index.entriesIn(oldLog);
    const snapshotEnd = end;
    const newOffsets = new Map(entries.map(([key], i) => [key, 8 + 20 * i]));
    // Meanwhile: overwrites, deletes and new keys, enough for the overlay to outgrow the base.
    for (let i = 0; i < 6_000; i++) put(i % 3 === 0 ? `a/${String(i % 5_000).padStart(5, "0")}` : `c/${i}`);
    for (let i = 1; i < 5_000; i += 7) {
      index.del(`a/${String(i).padStart(5, "0")}`);
      model.delete(`a/${String(i).padStart(5, "0")}`);
    }
    const before = index.list("").length;
    index.foldIfLarge(oldLog);
    expect((Reflect.get(index, "slots") as Map<string, number>).size).toBe(0); // folded: the overlay is empty
    expect(index.list("").length).toBe(before);
    const tailStart = 8 + 20 * entries.length;
    index.move(oldLog, newLog, (key, offset) => (offset < snapshotEnd ? newOffsets.get(key)! : offset - snapshotEnd + tailStart));
    expect(index.list("")).toEqual([...model.keys()].sort());
    for (const [key, offset] of model) {
      expect(index.get(key)).toEqual({ file: newLog, offset: offset < snapshotEnd ? newOffsets.get(key) : offset - snapshotEnd + tailStart, length: 10 });
    }
  });

  it("after compaction and across many clean and unclean reopens, the store matches a model", async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("put" as const), key: fc.integer({ min: 0, max: 60 }), value: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant("del" as const), key: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ kind: fc.constant("close" as const) }),
      fc.record({ kind: fc.constant("drop" as const) }), // as a crash: no index describes the log
      fc.record({ kind: fc.constant("compact" as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const dir = freshDir();
        const model = new Map<string, string>();
        let store = await openFileStore(dir);
        for (const o of ops) {
          if (o.kind === "put") {
            await store.write({ put: [[`key/${o.key}`, utf8(o.value)]] });
            model.set(`key/${o.key}`, o.value);
          } else if (o.kind === "del") {
            await store.write({ del: [`key/${o.key}`] });
            model.delete(`key/${o.key}`);
          } else if (o.kind === "compact") {
            await store.compact();
          } else {
            await store.close();
            // A crash leaves no index describing the log as it is: the next open replays it.
            if (o.kind === "drop") fs.rmSync(join(dir, INDEX_FILE), { force: true });
            store = await openFileStore(dir);
            expect(store.openedFrom).toBe(o.kind === "close" ? "index" : "log");
          }
          expect(await contents(store)).toEqual(new Map([...model].sort(([a], [b]) => (a < b ? -1 : 1))));
        }
        await store.close();
        const last = await openFileStore(dir);
        expect(await contents(last)).toEqual(new Map([...model].sort(([a], [b]) => (a < b ? -1 : 1))));
        await last.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: MODEL_RUNS },
    );
  });
});

describe("file store index snapshot delta", () => {
  /** A store of 2,000 keys, closed with a snapshot; returns its directory and its model. */
  async function seeded(): Promise<{ dir: string; model: Map<string, string> }> {
    const dir = freshDir();
    const model = new Map<string, string>();
    const store = await openFileStore(dir);
    await store.write({ put: Array.from({ length: 2_000 }, (_, i) => [`k${String(i).padStart(5, "0")}`, utf8(`v${i}`)] as const) });
    for (let i = 0; i < 2_000; i++) model.set(`k${String(i).padStart(5, "0")}`, `v${i}`);
    await store.close();
    return { dir, model };
  }
  const sorted = (model: Map<string, string>): Map<string, string> => new Map([...model].sort(([a], [b]) => (a < b ? -1 : 1)));

  /** A few puts, overwrites and deletions, applied to the store and the model. */
  async function fewWrites(store: FileByteStore, model: Map<string, string>, round: number): Promise<void> {
    const put: Array<readonly [string, Uint8Array]> = [];
    const del: string[] = [];
    for (let k = 0; k < 20; k++) {
      const key = `k${String((round * 389 + k * 97) % 2_000).padStart(5, "0")}`;
      put.push([key, utf8(`round ${round} ${k}`)]);
      model.set(key, `round ${round} ${k}`);
    }
    put.push([`new-${round}`, utf8(`new ${round}`)]);
    model.set(`new-${round}`, `new ${round}`);
    const gone = `k${String((round * 613 + 5) % 2_000).padStart(5, "0")}`;
    del.push(gone);
    model.delete(gone);
    await store.write({ put: put.filter(([key]) => key !== gone), del });
  }

  it("a close after a few writes writes a delta and leaves the snapshot; deltas carry over sessions until a big one rewrites the snapshot", async () => {
    const { dir, model } = await seeded();
    const snapshot = fs.readFileSync(join(dir, INDEX_FILE));
    for (let round = 1; round <= 4; round++) {
      const store = await openFileStore(dir);
      expect(store.openedFrom).toBe("index");
      expect(await contents(store)).toEqual(sorted(model));
      await fewWrites(store, model, round);
      await store.close();
      expect(fs.readFileSync(join(dir, INDEX_FILE))).toEqual(snapshot);
      expect(fs.existsSync(join(dir, INDEX_DELTA_FILE))).toBe(true);
    }
    const big = await openFileStore(dir);
    await big.write({ put: Array.from({ length: DELTA_MAX_KEYS + 1 }, (_, i) => [`z${i}`, utf8(`z${i}`)] as const) });
    for (let i = 0; i <= DELTA_MAX_KEYS; i++) model.set(`z${i}`, `z${i}`);
    await big.close();
    expect(fs.readFileSync(join(dir, INDEX_FILE))).not.toEqual(snapshot);
    expect(fs.existsSync(join(dir, INDEX_DELTA_FILE))).toBe(false);
    const last = await openFileStore(dir);
    expect(last.openedFrom).toBe("index");
    expect(await contents(last)).toEqual(sorted(model));
    await last.close();
  });

  it("is used only for exactly the log it describes and the snapshot it names; a damaged one is ignored; the open replays and loses nothing", async () => {
    // A snapshot names its log by device and inode too, so each case is a store of its own, changed in place.
    const other = await seeded();
    const cases: Array<[string, (files: { earlier: Buffer; current: Buffer }) => [index: Buffer | undefined, delta: Buffer], "index" | "log"]> = [
      ["this state's delta", ({ current }) => [undefined, current], "index"],
      ["an earlier delta", ({ earlier }) => [undefined, earlier], "log"],
      ["another store's snapshot", ({ current }) => [fs.readFileSync(join(other.dir, INDEX_FILE)), current], "log"],
      ["a damaged delta", ({ current }) => [undefined, flipped(current, current.length - 2)], "log"],
      ["a cut delta", ({ current }) => [undefined, current.subarray(0, current.length - 1)], "log"],
    ];
    for (const [what, tamper, from] of cases) {
      const { dir, model } = await seeded();
      for (const round of [1, 2]) {
        const store = await openFileStore(dir);
        await fewWrites(store, model, round);
        await store.close();
        if (round === 1) fs.copyFileSync(join(dir, INDEX_DELTA_FILE), join(dir, "earlier-delta"));
      }
      const [index, delta] = tamper({ earlier: fs.readFileSync(join(dir, "earlier-delta")), current: fs.readFileSync(join(dir, INDEX_DELTA_FILE)) });
      if (index) fs.writeFileSync(join(dir, INDEX_FILE), index);
      fs.writeFileSync(join(dir, INDEX_DELTA_FILE), delta);
      const again = await openFileStore(dir);
      expect(again.openedFrom, what).toBe(from);
      expect(await contents(again), what).toEqual(sorted(model));
      await again.close();
    }
  });

  it("a session that wrote more after opening on a delta, then crashed, is replayed: nothing lost", async () => {
    const { dir, model } = await seeded();
    const first = await openFileStore(dir);
    await fewWrites(first, model, 1);
    await first.close();
    const open = await openFileStore(dir);
    expect(open.openedFrom).toBe("index");
    await fewWrites(open, model, 2);
    // What a crash leaves: the directory as it is while the session is open, opened elsewhere.
    const copy = freshDir();
    fs.cpSync(dir, copy, { recursive: true });
    await open.close();
    const recovered = await openFileStore(copy);
    expect(recovered.openedFrom).toBe("log");
    expect(await contents(recovered)).toEqual(sorted(model));
    await recovered.close();
  });
});

function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}
