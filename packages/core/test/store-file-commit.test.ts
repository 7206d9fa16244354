// The file store's commit record: a log that lost acknowledged records
// (cut short, a hole, a record spliced out, its file gone) is refused with
// INTEGRITY and left untouched, while a torn unacknowledged tail is still
// cut off quietly, and a reboot lowers the bar to what was made durable.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommitFile, currentBoot } from "../src/store/file-commit.js";
import { openFileStore, type FileByteStore } from "../src/store/file.js";
import { checkRejects, utf8 } from "../src/testing/harness.js";
import { bundleForNode } from "./helpers/bundle.js";
import { withDeadline } from "./helpers/eventually.js";
import { rng } from "./helpers/rng.js";

const root = fs.mkdtempSync(join(tmpdir(), "hearth-store-commit-"));
let dirCounter = 0;
const freshDir = (): string => join(root, `case-${dirCounter++}`);
const logOf = (dir: string): string => {
  const logs = fs.readdirSync(dir).filter((n) => /^log-\d+\.hlog$/.test(n));
  if (logs.length !== 1) throw new Error(`expected one log in ${dir}, found ${logs.join(", ")}`);
  return join(dir, logs[0] as string);
};
const SEED = Number(process.env.HEARTH_COMMIT_SEED ?? Math.floor(Math.random() * 2 ** 31));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Writes `n` batches (batch i puts `r/<i>`), closes, and returns the log size after each batch (index 0: before any). */
async function writeBatches(dir: string, n: number): Promise<number[]> {
  const store = await openFileStore(dir);
  const ends = [store.logSize()];
  try {
    for (let i = 0; i < n; i++) {
      await store.write({ put: [[`r/${String(i).padStart(4, "0")}`, utf8(`record ${i} ${"-".repeat(i % 40)}`)]] });
      ends.push(store.logSize());
    }
  } finally {
    await store.close();
  }
  return ends;
}

/** Opens `dir`, expects INTEGRITY, and checks the log and the commit record are exactly as before. */
async function expectRefusedUntouched(dir: string): Promise<void> {
  const log = fs.readFileSync(logOf(dir));
  const commit = fs.readFileSync(join(dir, "COMMIT"));
  await checkRejects(openFileStore(dir), "INTEGRITY");
  expect(Buffer.compare(fs.readFileSync(logOf(dir)), log)).toBe(0);
  expect(Buffer.compare(fs.readFileSync(join(dir, "COMMIT")), commit)).toBe(0);
}

async function expectRecords(store: FileByteStore, n: number): Promise<void> {
  const keys = await store.list("r/");
  expect(keys.length).toBe(n);
  expect(keys[n - 1]).toBe(`r/${String(n - 1).padStart(4, "0")}`);
}

describe(`file store commit record (seed ${SEED})`, () => {
  it("a log truncated at 10 random points inside its acknowledged part is INTEGRITY every time, and untouched", async () => {
    const dir = freshDir();
    const ends = await writeBatches(dir, 301);
    const full = fs.readFileSync(logOf(dir));
    const random = rng(SEED);
    const points = new Set<number>([ends[150] as number]); // exactly at a record boundary: looks like a shorter log
    while (points.size < 10) points.add(1 + Math.floor(random() * (full.length - 1)));
    for (const cut of points) {
      fs.writeFileSync(logOf(dir), full.subarray(0, cut));
      await expectRefusedUntouched(dir);
    }
    fs.writeFileSync(logOf(dir), full); // restored: opens with all 301
    const store = await openFileStore(dir);
    await expectRecords(store, 301);
    await store.close();
  });

  it("a hole in the acknowledged part is INTEGRITY: zeroed bytes, or a whole record spliced out", async () => {
    const dir = freshDir();
    const ends = await writeBatches(dir, 50);
    const full = fs.readFileSync(logOf(dir));
    const zeroed = Buffer.from(full);
    zeroed.fill(0, ends[20], ends[23]);
    fs.writeFileSync(logOf(dir), zeroed);
    await expectRefusedUntouched(dir);
    // Zeroed up to the very end: nothing valid follows, so only the record knows.
    const zeroTail = Buffer.from(full);
    zeroTail.fill(0, ends[45]);
    fs.writeFileSync(logOf(dir), zeroTail);
    await expectRefusedUntouched(dir);
    const spliced = Buffer.concat([full.subarray(0, ends[10]), full.subarray(ends[11])]);
    fs.writeFileSync(logOf(dir), spliced);
    await expectRefusedUntouched(dir);
  });

  it("a torn last record that was never acknowledged is cut off quietly; every acknowledged write opens", async () => {
    const dir = freshDir();
    const ends = await writeBatches(dir, 30);
    const full = fs.readFileSync(logOf(dir));
    const lastRecord = full.subarray(ends[29], ends[30]);
    for (const tornLength of [1, 7, 8, 12, lastRecord.length - 1]) {
      // What a process killed while appending leaves: the start of a record past the recorded end.
      fs.writeFileSync(logOf(dir), Buffer.concat([full, lastRecord.subarray(0, tornLength)]));
      const store = await openFileStore(dir);
      try {
        await expectRecords(store, 30);
        expect(store.logSize()).toBe(full.length);
      } finally {
        await store.close();
      }
    }
  });

  it("after a reboot only what was made durable binds: a lost page-cache tail opens, a shorter log does not", async () => {
    const dir = freshDir();
    const ends = await writeBatches(dir, 40);
    const full = fs.readFileSync(logOf(dir));
    const durable = ends[25] as number;
    const rebooted = (): void => {
      const file = CommitFile.open(dir);
      file.write({ generation: 1, ackedEnd: full.length, durableEnd: durable, boot: "0".repeat(32) });
      file.close();
    };
    expect(currentBoot()).not.toBe("0".repeat(32));
    fs.writeFileSync(logOf(dir), full.subarray(0, ends[30]));
    rebooted();
    const store = await openFileStore(dir); // a power loss took records 30–39, written without fsync
    await expectRecords(store, 30);
    await store.close();
    fs.writeFileSync(logOf(dir), full.subarray(0, ends[20]));
    rebooted();
    await expectRefusedUntouched(dir); // records 20–24 had been fsynced
  });

  it("close makes the log durable and says so; fsync writes advance the durable end as they go", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: [["a", utf8("1")]] });
    const afterFirst = store.logSize();
    expect(CommitFile.read(dir)).toMatchObject({ generation: 1, ackedEnd: afterFirst, durableEnd: 0, boot: currentBoot() });
    await store.write({ put: [["b", utf8("2")]] }, { durability: "fsync" });
    expect(CommitFile.read(dir)).toMatchObject({ ackedEnd: store.logSize(), durableEnd: store.logSize() });
    await store.write({ put: [["c", utf8("3")]] });
    const size = store.logSize();
    await store.close();
    expect(CommitFile.read(dir)).toMatchObject({ ackedEnd: size, durableEnd: size });
  });

  it("a damaged commit record is rebuilt from the log; one about an older generation binds nothing", async () => {
    const dir = freshDir();
    await writeBatches(dir, 10);
    const record = fs.readFileSync(join(dir, "COMMIT"));
    record[20] = (record[20] as number) ^ 0xff;
    fs.writeFileSync(join(dir, "COMMIT"), record);
    let store = await openFileStore(dir);
    await expectRecords(store, 10);
    await store.compact(); // generation 2
    await store.close();
    // A crash between publishing a compacted log and recording it leaves the record one generation behind.
    const file = CommitFile.open(dir);
    file.write({ generation: 1, ackedEnd: 1 << 30, durableEnd: 1 << 30, boot: currentBoot() });
    file.close();
    store = await openFileStore(dir);
    await expectRecords(store, 10);
    await store.close();
  });

  it("a commit record naming a newer generation than any log is INTEGRITY, and nothing is created", async () => {
    const dir = freshDir();
    await writeBatches(dir, 5);
    const file = CommitFile.open(dir);
    file.write({ generation: 7, ackedEnd: 100, durableEnd: 100, boot: currentBoot() });
    file.close();
    const before = fs.readdirSync(dir).sort();
    await checkRejects(openFileStore(dir), "INTEGRITY");
    fs.rmSync(logOf(dir));
    await checkRejects(openFileStore(dir), "INTEGRITY"); // no log at all: not a fresh store either
    expect(fs.readdirSync(dir).sort()).toEqual(before.filter((n) => !n.endsWith(".hlog")));
  });

  it("a store from before the commit record opens and gets one", async () => {
    const dir = freshDir();
    await writeBatches(dir, 5);
    fs.rmSync(join(dir, "COMMIT"));
    const store = await openFileStore(dir);
    await expectRecords(store, 5);
    expect(CommitFile.read(dir)).toMatchObject({ generation: 1, ackedEnd: store.logSize() });
    await store.close();
  });
});

describe("file store background sync", () => {
  it("a long session under process durability syncs as it goes: the commit record's durable end follows the log before any close", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    try {
      const value = new Uint8Array(1024 * 1024).fill(7);
      for (let i = 0; i < 17; i++) await store.write({ put: [[`big/${i}`, value]] }); // past 16 MiB, no fsync asked for
      // The sync runs in the background; every commit rewrites the record with what is durable so far.
      await withDeadline(
        (async () => {
          for (let i = 0; ; i++) {
            const recorded = CommitFile.read(dir);
            if (recorded !== undefined && recorded !== "damaged" && recorded.durableEnd >= 16 * 1024 * 1024) return;
            await store.write({ put: [[`tick/${i}`, utf8("t")]] });
            await new Promise((resolve) => setImmediate(resolve));
          }
        })(),
        20_000,
        "the commit record to show 16 MiB durable",
      );
      const recorded = CommitFile.read(dir);
      if (recorded === undefined || recorded === "damaged") throw new Error("no commit record");
      expect(recorded.durableEnd).toBeLessThanOrEqual(recorded.ackedEnd);
    } finally {
      await store.close();
    }
    const again = await openFileStore(dir);
    expect((await again.get("big/16"))?.length).toBe(1024 * 1024);
    await again.close();
  });
});

describe("file store commit record after a crash", () => {
  let bundleUrl = "";
  beforeAll(async () => {
    const outfile = join(root, "file-store-bundle.mjs");
    await bundleForNode(new URL("../src/store/file.ts", import.meta.url), outfile);
    bundleUrl = pathToFileURL(outfile).href;
  });

  it("a SIGKILLed writer's acknowledged writes bind too: cutting into them is INTEGRITY, the intact log opens with all of them", async () => {
    const dir = freshDir();
    const fixture = fileURLToPath(new URL("./fixtures/store-child.mjs", import.meta.url));
    const child = spawn(process.execPath, [fixture, bundleUrl, dir, JSON.stringify({ compactMinBytes: 2 ** 30, compactEvery: 0 })], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const acked: string[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") ready();
      if (line.startsWith("acked ")) acked.push(line.slice(6));
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    await withDeadline(isReady, 20_000, "the writer to open");
    child.stdin.write("churn 1000000\n");
    await withDeadline(
      (async () => {
        while (acked.length < 300) await new Promise((resolve) => setTimeout(resolve, 2));
      })(),
      20_000,
      "300 acknowledged writes",
    );
    child.kill("SIGKILL");
    await withDeadline(closed, 20_000, "the writer to exit");
    const full = fs.readFileSync(logOf(dir));
    const recorded = CommitFile.read(dir);
    if (recorded === undefined || recorded === "damaged") throw new Error("the writer left no commit record");
    expect(recorded.ackedEnd).toBeGreaterThan(300 * 16); // at least the 300 acknowledged records
    expect(recorded.ackedEnd).toBeLessThanOrEqual(full.length);
    const random = rng(SEED ^ 0x5eed);
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(logOf(dir), full.subarray(0, 1 + Math.floor(random() * (recorded.ackedEnd - 1))));
      await expectRefusedUntouched(dir);
    }
    fs.writeFileSync(logOf(dir), full);
    const store = await openFileStore(dir);
    const keys = new Set(await store.list("churn/"));
    expect(acked.filter((key) => !keys.has(key))).toEqual([]);
    await store.close();
  });
});
