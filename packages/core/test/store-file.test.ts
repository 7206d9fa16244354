// File store specifics beyond the conformance suite: crash recovery of the
// log, atomic batches, compaction, large values and key edge cases. The
// lock is in store-file-lock.test.ts, the commit record (acknowledged
// writes lost) in store-file-commit.test.ts.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isHearthError } from "../src/errors.js";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "../src/store/file-crc.js";
import { fileUrlToDir, openFileStore, type FileByteStore } from "../src/store/file.js";
import { checkRejects, utf8 } from "../src/testing/harness.js";
import { bundleForNode } from "./helpers/bundle.js";
import { unacknowledgeFrom } from "./helpers/commit-record.js";

const root = fs.mkdtempSync(join(tmpdir(), "hearth-store-file-"));
let dirCounter = 0;
const freshDir = (): string => join(root, `case-${dirCounter++}`);
const logFiles = (dir: string): string[] => fs.readdirSync(dir).filter((n) => /^log-\d+\.hlog$/.test(n));
const logPath = (dir: string): string => {
  const [name, ...more] = logFiles(dir);
  if (!name || more.length > 0) throw new Error(`expected one log in ${dir}, found ${logFiles(dir).join(", ")}`);
  return join(dir, name);
};
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

const open: FileByteStore[] = [];
async function openTracked(dir: string, options?: Parameters<typeof openFileStore>[1]): Promise<FileByteStore> {
  const store = await openFileStore(dir, options);
  open.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Writes five batches; the last also deletes k0 and is the one tests tear. Returns log sizes after each. */
async function writeFiveBatches(store: FileByteStore): Promise<number[]> {
  const sizes: number[] = [];
  for (let i = 0; i < 4; i++) {
    await store.write({ put: [[`k${i}`, utf8(`v${i}`)], [`k${i}b`, utf8(`w${i}`)]] });
    sizes.push(store.logSize());
  }
  await store.write({ del: ["k0"], put: [["last-a", utf8("A")], ["last-b", utf8("B".repeat(100))]] });
  sizes.push(store.logSize());
  return sizes;
}

async function expectFirstFourIntact(store: FileByteStore): Promise<void> {
  for (let i = 0; i < 4; i++) {
    expect(text(await store.get(`k${i}`))).toBe(`v${i}`);
    expect(text(await store.get(`k${i}b`))).toBe(`w${i}`);
  }
}

describe("file store: crash recovery", () => {
  it("discards garbage appended after the last record and stays writable", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const sizes = await writeFiveBatches(store);
    await store.close();
    fs.appendFileSync(logPath(dir), Buffer.from("this is not a record, just a torn tail ......"));

    const again = await openTracked(dir);
    expect(again.logSize()).toBe(sizes[4]);
    expect(fs.statSync(logPath(dir)).size).toBe(sizes[4]);
    expect(await again.get("k0")).toBeUndefined();
    expect(text(await again.get("last-b"))).toBe("B".repeat(100));
    await again.write({ put: [["after", utf8("crash")]] });
    await again.close();

    const third = await openTracked(dir);
    expect(text(await third.get("after"))).toBe("crash");
    expect(await third.list("k")).toEqual(["k0b", "k1", "k1b", "k2", "k2b", "k3", "k3b"]);
  });

  it("a batch torn anywhere inside its record is dropped entirely (atomic batch)", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const sizes = await writeFiveBatches(store);
    await store.close();
    const full = fs.readFileSync(logPath(dir));
    const start = sizes[3] as number;
    const end = sizes[4] as number;
    // Cut at every interesting point of the last record: in the header, in a key, in the last value.
    for (const cut of [start + 1, start + 7, start + 12, end - 50, end - 1]) {
      fs.writeFileSync(logPath(dir), full.subarray(0, cut));
      unacknowledgeFrom(dir, start); // the process died while appending the last batch
      const again = await openFileStore(dir);
      try {
        await expectFirstFourIntact(again);
        expect(text(await again.get("k0"))).toBe("v0"); // the torn batch's delete did not apply
        expect(await again.get("last-a")).toBeUndefined();
        expect(await again.get("last-b")).toBeUndefined();
        expect(again.logSize()).toBe(start);
        await again.write({ put: [["again", utf8("ok")]] });
      } finally {
        await again.close();
      }
    }
  });

  it("a last record with a bad checksum is dropped", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const sizes = await writeFiveBatches(store);
    await store.close();
    const bytes = fs.readFileSync(logPath(dir));
    const flip = (sizes[4] as number) - 10;
    bytes[flip] = (bytes[flip] as number) ^ 0xff;
    fs.writeFileSync(logPath(dir), bytes);
    unacknowledgeFrom(dir, sizes[3] as number); // a power loss while it was written, before it was acknowledged
    const again = await openTracked(dir);
    await expectFirstFourIntact(again);
    expect(await again.get("last-b")).toBeUndefined();
  });

  it("a run of zero bytes after the last record (power loss) is not a record", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const sizes = await writeFiveBatches(store);
    await store.close();
    fs.appendFileSync(logPath(dir), Buffer.alloc(4096));
    const again = await openTracked(dir);
    expect(again.logSize()).toBe(sizes[4]);
    expect(text(await again.get("last-a"))).toBe("A");
  });

  it("a log with a foreign header is refused with STORAGE_FAILED, not overwritten", async () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, "log-00000001.hlog"), "definitely not a hearth log");
    await checkRejects(openFileStore(dir), "STORAGE_FAILED");
    expect(fs.readFileSync(join(dir, "log-00000001.hlog"), "utf8")).toBe("definitely not a hearth log");
    expect(fs.readdirSync(dir)).toEqual(["log-00000001.hlog"]); // nothing created
    await checkRejects(openFileStore(dir), "STORAGE_FAILED"); // the failed open released its lock
  });
});

describe("file store: damage in the middle of the log", () => {
  /** Writes ten batches (batch i puts `b<i>/x` and `b<i>/y`); returns the log size before and after each. */
  async function writeTenBatches(dir: string): Promise<number[]> {
    const store = await openFileStore(dir);
    const bounds = [store.logSize()];
    try {
      for (let i = 0; i < 10; i++) {
        await store.write({ put: [[`b${i}/x`, utf8(`x${i} ${".".repeat(i * 7)}`)], [`b${i}/y`, utf8(`y${i}`)]] });
        bounds.push(store.logSize());
      }
    } finally {
      await store.close();
    }
    return bounds;
  }

  async function expectBatchesBefore(store: FileByteStore, n: number): Promise<void> {
    expect(await store.list("")).toEqual(
      Array.from({ length: n }, (_, i) => [`b${i}/x`, `b${i}/y`])
        .flat()
        .sort(),
    );
    for (let i = 0; i < n; i++) expect(text(await store.get(`b${i}/y`))).toBe(`y${i}`);
  }

  /** Flips `bytes[at]`, opens, and checks the open is refused with INTEGRITY and leaves the directory as it was. */
  async function expectRefused(dir: string, at: number): Promise<void> {
    const path = logPath(dir);
    const bytes = fs.readFileSync(path);
    bytes[at] = (bytes[at] as number) ^ 0x5a;
    fs.writeFileSync(path, bytes);
    const commit = fs.readFileSync(join(dir, "COMMIT"));
    const files = fs.readdirSync(dir).sort(); // COMMIT, the log, and the index the clean close left
    expect(files).toEqual(["COMMIT", "INDEX", path.slice(dir.length + 1)]);
    await checkRejects(openFileStore(dir), "INTEGRITY");
    expect(Buffer.compare(fs.readFileSync(path), bytes)).toBe(0); // same size, same bytes: nothing cut
    expect(fs.readdirSync(dir).sort()).toEqual(files); // no new files
    expect(Buffer.compare(fs.readFileSync(join(dir, "COMMIT")), commit)).toBe(0);
    await checkRejects(openFileStore(dir), "INTEGRITY"); // lock released, and it stays refused
  }

  it("a flipped payload byte in a middle record refuses the open (INTEGRITY) and changes nothing", async () => {
    const dir = freshDir();
    const bounds = await writeTenBatches(dir);
    await expectRefused(dir, (bounds[3] as number) + 15); // inside batch 3's first key
    const again = freshDir();
    const b = await writeTenBatches(again);
    await expectRefused(again, (b[5] as number) - 2); // the last value byte of batch 4
  });

  it("a flipped byte in a middle record's length or checksum refuses the open", async () => {
    // Length bytes: the low one makes the frame point inside the next record,
    // the high one past the end of the file. Then each CRC byte position.
    for (const [batch, offsetInRecord] of [[2, 4], [4, 7], [6, 5], [1, 0], [7, 3]] as const) {
      const dir = freshDir();
      const bounds = await writeTenBatches(dir);
      await expectRefused(dir, (bounds[batch] as number) + offsetInRecord);
    }
  });

  it("damage in the very first record, with nine after it, is refused too", async () => {
    const dir = freshDir();
    const bounds = await writeTenBatches(dir);
    await expectRefused(dir, (bounds[0] as number) + 10);
  });

  it("the documented way to keep what precedes the damage works: copy the log, cut it at the bad record, drop COMMIT", async () => {
    const dir = freshDir();
    const bounds = await writeTenBatches(dir);
    const damagedAt = bounds[6] as number;
    await expectRefused(dir, damagedAt + 20);
    const path = logPath(dir);
    fs.copyFileSync(path, `${path}.damaged`);
    fs.truncateSync(path, damagedAt);
    await checkRejects(openFileStore(dir), "INTEGRITY"); // still short of what was acknowledged
    fs.rmSync(join(dir, "COMMIT"));
    const store = await openTracked(dir);
    await expectBatchesBefore(store, 6);
    await store.write({ put: [["after", utf8("repair")]] });
    await store.close();
    const again = await openTracked(dir);
    expect(text(await again.get("after"))).toBe("repair");
    expect(fs.existsSync(`${path}.damaged`)).toBe(true); // the copy is neither read nor deleted
  });

  it("damage followed by a valid record bigger than the search window is still found", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: [["a", utf8("1")]] });
    const damagedAt = store.logSize();
    await store.write({ put: [["b", utf8("2")]] });
    await store.write({ put: [["big", new Uint8Array(5 << 20).fill(7)]] });
    await store.close();
    await expectRefused(dir, damagedAt + 4); // its length now points nowhere useful
  });

  it("a flipped byte anywhere in an unacknowledged LAST record is a torn tail: that batch is dropped, all before it kept", async () => {
    for (const offsetInRecord of [0, 3, 4, 7, 9, 12, -1, -20]) {
      const dir = freshDir();
      const bounds = await writeTenBatches(dir);
      const start = bounds[9] as number;
      const end = bounds[10] as number;
      const at = offsetInRecord < 0 ? end + offsetInRecord : start + offsetInRecord;
      const path = logPath(dir);
      const bytes = fs.readFileSync(path);
      bytes[at] = (bytes[at] as number) ^ 0x5a;
      fs.writeFileSync(path, bytes);
      unacknowledgeFrom(dir, start);
      const store = await openFileStore(dir);
      try {
        await expectBatchesBefore(store, 9);
        expect(store.logSize()).toBe(start);
        expect(fs.statSync(path).size).toBe(start);
      } finally {
        await store.close();
      }
    }
  });

  it("a big record torn in the middle of its value is still a torn tail", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: [["small", utf8("kept")]] });
    const start = store.logSize();
    // Pseudo-random bytes: a torn ciphertext, searched byte by byte for a record.
    let seed = 1;
    const noise = new Uint8Array(3 << 20).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) & 0xff);
    await store.write({ put: [["big", noise]] });
    await store.close();
    unacknowledgeFrom(dir, start);
    fs.truncateSync(logPath(dir), start + (2 << 20));
    const again = await openTracked(dir);
    expect(text(await again.get("small"))).toBe("kept");
    expect(await again.get("big")).toBeUndefined();
    expect(again.logSize()).toBe(start);
  });

  it("compaction after a torn tail was cut copies only the intact batches", async () => {
    const dir = freshDir();
    const bounds = await writeTenBatches(dir);
    fs.appendFileSync(logPath(dir), Buffer.from("\x07\x00\x00\x00garbage that is no record"));
    const store = await openTracked(dir);
    expect(store.logSize()).toBe(bounds[10]);
    await store.compact();
    await expectBatchesBefore(store, 10);
    await store.close();
    const again = await openTracked(dir);
    await expectBatchesBefore(again, 10);
    expect(fs.statSync(logPath(dir)).size).toBe(again.logSize()); // the compacted log has no tail to cut
  });
});

describe("file store: compaction", () => {
  async function fillWithGarbage(store: FileByteStore): Promise<Map<string, string>> {
    const expected = new Map<string, string>();
    for (let round = 0; round < 20; round++) {
      const put = Array.from({ length: 50 }, (_, i) => [`key/${i}`, utf8(`round ${round} ${"x".repeat(200)} ${i}`)] as const);
      await store.write({ put });
      for (const [k, v] of put) expected.set(k, text(v) as string);
    }
    await store.write({ put: [["doomed", utf8("x".repeat(5000))]] });
    await store.write({ del: ["doomed", "key/0"] });
    expected.delete("key/0");
    return expected;
  }

  async function expectContents(store: FileByteStore, expected: Map<string, string>): Promise<void> {
    expect(await store.list("")).toEqual([...expected.keys()].sort());
    for (const [k, v] of expected) expect(text(await store.get(k))).toBe(v);
  }

  it("compact() shrinks the log and keeps every live value, across reopen", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const expected = await fillWithGarbage(store);
    const before = store.logSize();
    await store.compact();
    expect(store.logSize()).toBeLessThan(before / 10);
    expect(logFiles(dir)).toEqual(["log-00000002.hlog"]);
    await expectContents(store, expected);
    await store.close();
    const again = await openTracked(dir);
    await expectContents(again, expected);
    expect(fs.statSync(logPath(dir)).size).toBe(again.logSize());
  });

  it("compaction keeps every byte of values of every size: many small ones, ones that take a record past its target, one larger than a read window", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const bytesOf = (seed: number, length: number): Uint8Array => {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
      return out;
    };
    // Over two read windows of small values (so a window is refilled while values of the one
    // before wait to be written), then values around a record's target and past a window's size.
    const sizes = [...Array.from({ length: 16_000 }, (_, i) => 100 + (i % 900)), 900 * 1024, 1024 * 1024 + 5, 5 * 1024 * 1024 + 3, 70_000, 12];
    const expected = new Map<string, Uint8Array>();
    for (let from = 0; from < sizes.length; from += 40) {
      const put: Array<readonly [string, Uint8Array]> = [];
      for (let i = from; i < Math.min(sizes.length, from + 40); i++) {
        const value = bytesOf(i, sizes[i]!);
        put.push([`v/${String(i).padStart(5, "0")}`, value], [`dead/${i}`, value.subarray(0, 64)]);
        expected.set(`v/${String(i).padStart(5, "0")}`, value);
      }
      await store.write({ put });
    }
    await store.write({ del: sizes.map((_, i) => `dead/${i}`) });
    await store.compact();
    const check = async (s: FileByteStore): Promise<void> => {
      expect(await s.list("v/")).toEqual([...expected.keys()]);
      for (const [key, value] of expected) expect(Buffer.from((await s.get(key))!).equals(Buffer.from(value))).toBe(true);
    };
    await check(store);
    await store.close();
    const again = await openTracked(dir);
    await check(again);
  });

  it("writes issued during compaction are kept (records appended after the snapshot move too)", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const expected = await fillWithGarbage(store);
    const compaction = store.compact();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `key/${i % 60}`;
      const value = `during ${i}`;
      expected.set(key, value);
      writes.push(store.write({ put: [[key, utf8(value)]] }, { durability: i % 7 === 0 ? "fsync" : "process" }));
      if (i % 50 === 0) {
        writes.push(store.write({ del: ["key/1"] }));
        expected.delete("key/1");
      }
    }
    await Promise.all([compaction, ...writes]);
    await expectContents(store, expected);
    await store.close();
    const again = await openTracked(dir);
    await expectContents(again, expected);
  });

  it("runs by itself once most of a big enough log is dead", async () => {
    const dir = freshDir();
    const store = await openTracked(dir, { compactMinBytes: 64 * 1024 });
    const expected = await fillWithGarbage(store);
    const deadline = Date.now() + 10_000;
    // Compaction may run several times during the fill; wait for the one after the last write.
    while (store.logSize() >= 64 * 1024) {
      if (Date.now() > deadline) throw new Error("automatic compaction did not run within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(logFiles(dir)).not.toContain("log-00000001.hlog");
    await expectContents(store, expected);
  });

  it("wound down before a close, starts no background compaction however dead the log, yet compact() still runs", async () => {
    const dir = freshDir();
    const store = await openTracked(dir, { compactMinBytes: 64 * 1024 });
    store.windDown();
    const expected = await fillWithGarbage(store);
    // The same fill compacts by itself several times when not wound down (the test above).
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(logFiles(dir)).toEqual(["log-00000001.hlog"]);
    expect(fs.readdirSync(dir).some((n) => n.endsWith(".tmp"))).toBe(false);
    expect(store.logSize()).toBeGreaterThan(64 * 1024);
    await expectContents(store, expected);
    await store.compact();
    expect(logFiles(dir)).toEqual(["log-00000002.hlog"]);
    await store.write({ put: [["after", utf8("still writes")]] });
    expected.set("after", "still writes");
    await store.close();
    const again = await openTracked(dir);
    await expectContents(again, expected);
  });

  it("a crash at any point of compaction leaves a readable store", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const expected = await fillWithGarbage(store);
    await store.close();
    const oldLog = fs.readFileSync(join(dir, "log-00000001.hlog"));

    // Crash while the new generation was being written: a partial .tmp is ignored and removed.
    fs.writeFileSync(join(dir, "log-00000002.hlog.tmp"), oldLog.subarray(0, 1000));
    let again = await openFileStore(dir);
    await expectContents(again, expected);
    expect(fs.readdirSync(dir).some((n) => n.endsWith(".tmp"))).toBe(false);
    await again.compact();
    await again.close();

    // Crash after the rename but before the old log was deleted: the newer generation wins.
    fs.writeFileSync(join(dir, "log-00000001.hlog"), oldLog);
    again = await openFileStore(dir);
    await expectContents(again, expected);
    expect(logFiles(dir)).toEqual(["log-00000002.hlog"]);
    await again.close();
  });
});

describe("file store: a disk that refuses writes", () => {
  let bundleUrl = "";
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // The child runs plain Node, so it gets the store as one bundled ES module.
    const outfile = join(root, "file-store-bundle.mjs");
    await bundleForNode(new URL("../src/store/file.ts", import.meta.url), outfile);
    bundleUrl = pathToFileURL(outfile).href;
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  it("a write the disk refuses rejects with STORAGE_FAILED and leaves the store consistent", async () => {
    if (process.platform === "win32") return; // needs `ulimit -f`
    const dir = freshDir();
    const limited = fileURLToPath(new URL("./fixtures/store-write-limit.mjs", import.meta.url));
    // `ulimit -f 100`: the child's files cannot grow past 100 blocks (EFBIG; Node ignores SIGXFSZ).
    const child = spawn("/bin/sh", ["-c", 'ulimit -f 100 && exec "$0" "$@"', process.execPath, limited, bundleUrl, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await withDeadline(new Promise((resolve) => child.once("exit", resolve)), "the write-limit child to exit");
    expect(output.trim().split("\n")).toEqual([
      "first ok",
      "async-too-big STORAGE_FAILED EFBIG",
      "sync-1 ok",
      "sync-2 ok",
      "sync-too-big STORAGE_FAILED EFBIG",
      "fsync-too-big STORAGE_FAILED EFBIG",
      "after ok",
      "closed",
    ]);
    const store = await openTracked(dir);
    expect(await store.list("")).toEqual(["a", "b", "s1", "s2"]);
    expect((await store.get("s2"))?.length).toBe(25_000);
    expect(fs.statSync(logPath(dir)).size).toBe(store.logSize()); // failed appends were cut off
  });
});

describe("file store: values, keys, durability, URLs", () => {
  it("the table CRC-32 agrees with zlib's at every length and alignment", () => {
    const bytes = new Uint8Array(3000).map((_, i) => (i * 131 + 17) & 0xff);
    for (const start of [0, 1, 3, 7]) {
      for (let length = 0; length < 1100; length += length < 40 ? 1 : 37) {
        expect(crc32(bytes, start, start + length)).toBe(zlibCrc32(bytes.subarray(start, start + length)));
      }
    }
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
  });

  it("values of several MiB round-trip, alone and in one batch, across reopen", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const big = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
    await store.write({ put: [["big/4", big(4 << 20, 1)]] });
    await store.write({ put: [["big/a", big(2 << 20, 2)], ["big/b", big(3 << 20, 3)], ["small", utf8("s")]] }, { durability: "fsync" });
    await Promise.all([store.write({ put: [["big/c", big(1 << 20, 4)]] }), store.write({ put: [["big/d", big(70_000, 5)]] })]);
    await store.close();
    const again = await openTracked(dir);
    expectBytes(await again.get("big/4"), big(4 << 20, 1));
    expectBytes(await again.get("big/a"), big(2 << 20, 2));
    expectBytes(await again.get("big/b"), big(3 << 20, 3));
    expectBytes(await again.get("big/c"), big(1 << 20, 4));
    expectBytes(await again.get("big/d"), big(70_000, 5));
    expect(text(await again.get("small"))).toBe("s");
  });

  it("keys at the edges of the allowed alphabet and length round-trip and sort", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const keys = ["!", "~", "~~", "!~", "\\", '"', "%00", "a".repeat(512), "Z", "z", "[]{}|`^_"];
    await store.write({ put: keys.map((k, i) => [k, utf8(String(i))] as const) });
    await store.close();
    const again = await openTracked(dir);
    expect(await again.list("")).toEqual([...keys].sort());
    expect(await again.list("~")).toEqual(["~", "~~"]);
    for (const [i, k] of keys.entries()) expect(text(await again.get(k))).toBe(String(i));
    for (const bad of ["é", "a b", "tab\t", "\u0000", "\x7f", "a".repeat(513), "☃"]) {
      await checkRejects(again.write({ put: [[bad, utf8("x")]] }), "TypeError");
      await checkRejects(again.get(bad), "TypeError");
    }
  });

  it("concurrent writes apply in call order, mixing durability levels", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const writes = Array.from({ length: 300 }, (_, i) =>
      store.write({ put: [["counter", utf8(String(i))], [`n/${i}`, utf8("1")]] }, { durability: i % 3 === 0 ? "fsync" : "process" }),
    );
    await Promise.all(writes);
    expect(text(await store.get("counter"))).toBe("299");
    expect((await store.list("n/")).length).toBe(300);
  });

  it("creates the directory with mode 0700 and destroy removes it", async () => {
    const dir = join(freshDir(), "nested", "ledger");
    const store = await openFileStore(dir);
    if (process.platform !== "win32") expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    await store.write({ put: [["a", utf8("1")]] });
    await store.destroy();
    expect(fs.existsSync(dir)).toBe(false);
    await store.destroy(); // idempotent
  });

  it("fails with STORAGE_FAILED when the directory cannot be created", async () => {
    const file = join(freshDir());
    fs.writeFileSync(file, "a file, not a directory");
    await checkRejects(openFileStore(join(file, "ledger")), "STORAGE_FAILED");
  });

  it("fileUrlToDir maps file URLs and rejects everything else with INVALID_URL", async () => {
    const dir = freshDir();
    expect(fileUrlToDir(pathToFileURL(dir).href)).toBe(dir);
    for (const bad of ["http://example.com/x", "memory://x", "not a url", "/abs/path"]) {
      let caught: unknown;
      try {
        fileUrlToDir(bad);
      } catch (err) {
        caught = err;
      }
      expect(isHearthError(caught, "INVALID_URL")).toBe(true);
    }
    const store = await openTracked(dir);
    expect(fileUrlToDir(store.url)).toBe(dir);
    await checkRejects(openFileStore("relative/dir"), "INVALID_ARGUMENT");
  });
});

/** Byte equality without vitest's element-by-element diffing, which takes minutes on MiB arrays. */
function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(Buffer.compare(actual as Uint8Array, expected)).toBe(0);
}

/** Rejects if `promise` has not settled within 10 s, so a stuck child fails the test instead of hanging it. */
function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe("maintain", () => {
  it("compacts a log that is more than a quarter dead, and leaves a live one alone", async () => {
    const where = fs.mkdtempSync(join(tmpdir(), "hearth-maintain-"));
    try {
      const store = await openFileStore(where);
      const value = new Uint8Array(1024).fill(7);
      await store.write({ put: Array.from({ length: 200 }, (_, i) => [`k${i}`, value] as const) });
      const live = store.logSize();
      await store.maintain();
      expect(store.logSize()).toBe(live);
      await store.write({ del: Array.from({ length: 100 }, (_, i) => `k${i}`) });
      await store.maintain();
      expect(store.logSize()).toBeLessThan(live * 0.6);
      expect(await store.get("k150")).toEqual(value);
      expect(await store.get("k50")).toBeUndefined();
      await store.close();
    } finally {
      fs.rmSync(where, { recursive: true, force: true });
    }
  });
});
