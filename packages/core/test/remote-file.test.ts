// What only the shared-directory remote has to prove: several processes on
// one directory, push across processes, atomic puts under kill -9, temp
// files, the polling fallback, and its error codes.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import { openFileRemote } from "../src/remote/file.js";
import type { Remote } from "../src/remote/types.js";
import { bundleForNode } from "./helpers/bundle.js";
import { eventually, withDeadline } from "./helpers/eventually.js";
import { expectCode } from "./helpers/expect-code.js";

let root = "";
let writerScript = "";
let counter = 0;
const children = new Set<ChildProcessWithoutNullStreams>();
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hearth-remote-file-"));
  writerScript = join(root, "remote-writer.mjs");
  await bundleForNode(new URL("./fixtures/remote-writer.ts", import.meta.url), writerScript);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(root, { recursive: true, force: true });
});

/** A fresh directory (not yet created) and its URL. */
function freshDir(): { dir: string; url: string } {
  const dir = join(root, `remote-${counter++}`);
  return { dir, url: pathToFileURL(dir).href };
}

/** Starts the writer fixture; `next(ms)` resolves with its next stdout line. */
function startWriter(args: string[]): { child: ChildProcessWithoutNullStreams; next: (ms: number) => Promise<string> } {
  const child = spawn(process.execPath, [writerScript, ...args], { stdio: "pipe" });
  children.add(child);
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const next = (ms: number): Promise<string> =>
    eventually(
      () => {
        const line = lines.shift();
        if (line !== undefined) return line;
        throw new Error(child.exitCode !== null ? `child exited ${child.exitCode}: ${stderr}` : "no line yet");
      },
      { timeoutMs: ms, intervalMs: 2, what: `a line from child ${child.pid}` },
    );
  return { child, next };
}

describe("file remote across processes", () => {
  it("two processes writing one directory at once lose nothing", async () => {
    const { dir, url } = freshDir();
    const writers = [startWriter([url, "put", "shared/", "150"]), startWriter([url, "put", "head/", "150"]), startWriter([url, "put", "shared/", "150"])];
    for (const w of writers) expect(await w.next(20_000)).toBe("ready");
    for (const w of writers) w.child.stdin.write("go\n");
    for (const w of writers) expect(await w.next(30_000)).toBe("done");
    const remote = await openFileRemote(url);
    const names = await remote.list("");
    expect(names).toHaveLength(300);
    expect(names).toEqual([...names].sort());
    // Both shared writers wrote every shared/ name: each holds one writer's whole value.
    const pids = [writers[0]?.child.pid, writers[2]?.child.pid];
    for (const i of [0, 77, 149]) {
      const value = text(await remote.get(`shared/${i}`));
      expect(pids.map((pid) => `shared/${i}@${pid}`)).toContain(value);
    }
    expect(text(await remote.get("head/5"))).toBe(`head/5@${writers[1]?.child.pid}`);
    expect((await readdir(join(dir, "shared"))).filter((n) => n.startsWith("~"))).toEqual([]);
    await remote.close();
  });

  it("a watch sees another process's put within milliseconds (fs.watch, polling too slow to matter)", async () => {
    const { url } = freshDir();
    const watcher = await openFileRemote(url, { pollMs: 60_000 });
    let calls = 0;
    const stop = watcher.watch?.("head/", () => calls++);
    const writer = startWriter([url, "put", "head/", "1"]);
    expect(await writer.next(20_000)).toBe("ready");
    writer.child.stdin.write("go\n");
    const started = performance.now();
    await eventually(() => expect(calls).toBeGreaterThan(0), { timeoutMs: 10_000, intervalMs: 1, what: "a push from the other process" });
    const latency = performance.now() - started;
    expect(latency).toBeLessThan(5_000); // far below the 60 s poll
    console.log(`file remote: cross-process push after ${latency.toFixed(1)} ms`);
    expect(await writer.next(20_000)).toBe("done");
    expect(await watcher.list("head/")).toEqual(["head/0"]);
    stop?.();
    await watcher.close();
  });

  it("readers never see a partial value, and a writer killed mid-put leaves nothing partial", async () => {
    const { url } = freshDir();
    const size = 2 * 1024 * 1024;
    const writer = startWriter([url, "churn", "big/value", String(size)]);
    expect(await writer.next(20_000)).toBe("ready");
    writer.child.stdin.write("go\n");
    const reader = await openFileRemote(url);
    const check = (value: Uint8Array | undefined): void => {
      if (value === undefined) return;
      expect(value.length).toBe(size);
      expect(value.every((b) => b === value[0])).toBe(true);
    };
    let acks = 0;
    let reads = 0;
    const target = 10 + Math.floor(Math.random() * 20);
    while (acks < target) {
      check(await reader.get("big/value"));
      reads++;
      const line = await writer.next(20_000);
      expect(line).toMatch(/^ack \d+$/);
      acks++;
    }
    writer.child.kill("SIGKILL");
    await withDeadline(new Promise((resolve) => writer.child.once("exit", resolve)), 10_000, "the writer to die");
    check(await reader.get("big/value"));
    expect(await reader.list("")).toEqual(["big/value"]);
    expect(reads).toBe(target);
    await reader.close();
  });
});

describe("file remote on its own", () => {
  it("temp files are never listed; stale ones are removed by list", async () => {
    const { dir, url } = freshDir();
    const remote = await openFileRemote(url);
    await remote.put("head/a", new Uint8Array([1]));
    const fresh = join(dir, "head", "~tmp-0123456789abcdef");
    const stale = join(dir, "~tmp-stale");
    await writeFile(fresh, "partial");
    await writeFile(stale, "partial");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    expect(await remote.list("")).toEqual(["head/a"]);
    expect(await remote.list("head/")).toEqual(["head/a"]);
    expect((await readdir(dir)).sort()).toEqual(["head"]);
    expect((await readdir(join(dir, "head"))).sort()).toEqual(["a", "~tmp-0123456789abcdef"]);
    await remote.close();
  });

  it("polling alone (no fs.watch) still reports every change, nested ones included", async () => {
    const { url } = freshDir();
    const watcher = await openFileRemote(url, { pollMs: 25, useFsWatch: false });
    const writer = await openFileRemote(url);
    let calls = 0;
    watcher.watch?.("key/", () => calls++);
    for (const change of [() => writer.put("key/a", new Uint8Array([1])), () => writer.put("key/fp/b", new Uint8Array([2])), () => writer.put("key/a", new Uint8Array([3])), () => writer.delete("key/fp/b")]) {
      const before = calls;
      await change();
      await eventually(() => expect(calls).toBeGreaterThan(before), { timeoutMs: 5_000, what: "a poll to notice the change" });
    }
    await Promise.all([watcher.close(), writer.close()]);
  });

  it("a name that is also a directory of longer names is INVALID_ARGUMENT; an emptied directory gives way", async () => {
    const { url } = freshDir();
    const remote = await openFileRemote(url);
    await remote.put("a", new Uint8Array([1]));
    await expectCode(remote.put("a/b", new Uint8Array([2])), "INVALID_ARGUMENT");
    await remote.put("c/d", new Uint8Array([3]));
    await expectCode(remote.put("c", new Uint8Array([4])), "INVALID_ARGUMENT");
    await remote.delete("c"); // a directory, not a value: nothing to delete
    await remote.delete("c/d");
    await remote.put("c", new Uint8Array([5]));
    expect(await remote.list("")).toEqual(["a", "c"]);
    expect(await remote.get("c")).toEqual(new Uint8Array([5]));
    await remote.close();
  });

  it("I/O failures are STORAGE_FAILED with the path and the cause", async () => {
    // Running as root makes chmod useless, so break the directory another way: a file where it must be.
    const { dir, url } = freshDir();
    const remote = await openFileRemote(url);
    await remote.put("head/a", new Uint8Array([1]));
    await rm(dir, { recursive: true });
    await writeFile(dir, "not a directory");
    const failures: Array<() => Promise<unknown>> = [
      () => remote.put("head/b", new Uint8Array([2])),
      () => remote.put("top", new Uint8Array([2])),
      () => remote.list(""),
      () => remote.list("head/"),
      () => remote.get("head/a"),
      () => remote.delete("head/a"),
    ];
    for (const failure of failures) {
      const err = await failure().then(() => undefined, (e: unknown) => e);
      expect(err, String(failure)).toBeInstanceOf(HearthError);
      expect((err as HearthError).code).toBe("STORAGE_FAILED");
      expect((err as HearthError).message).toContain(dir);
      expect((err as HearthError).cause).toBeDefined();
    }
    await expectCode(openFileRemote(pathToFileURL(join(dir, "below-a-file")).href), "STORAGE_FAILED");
    await remote.close();
  });

  it("bad URLs and options are refused", async () => {
    await expectCode(openFileRemote("memory://x"), "INVALID_URL");
    await expectCode(openFileRemote("file://relative/dir"), "INVALID_URL");
    await expectCode(openFileRemote("file:///"), "INVALID_URL");
    await expect(openFileRemote(freshDir().url, { pollMs: 0 })).rejects.toBeInstanceOf(TypeError);
    const remote: Remote = await openFileRemote(freshDir().url);
    await expect(remote.put("a", [1] as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
    await remote.close();
  });

  it("a watch on a missing directory creates it and works; close stops every watch", async () => {
    const { dir, url } = freshDir();
    await mkdir(dir);
    const remote = await openFileRemote(url, { pollMs: 50 });
    let calls = 0;
    remote.watch?.("deep/er/", () => calls++);
    expect(await readdir(join(dir, "deep"))).toEqual(["er"]);
    await remote.put("deep/er/x", new Uint8Array([1]));
    await eventually(() => expect(calls).toBeGreaterThan(0), { timeoutMs: 5_000 });
    await remote.close();
    const seen = calls;
    const other = await openFileRemote(url, { pollMs: 50 });
    let witness = 0;
    other.watch?.("deep/er/", () => witness++);
    await other.put("deep/er/y", new Uint8Array([2]));
    await eventually(() => expect(witness).toBeGreaterThan(0), { timeoutMs: 5_000 });
    expect(calls).toBe(seen);
    await other.close();
  });
});
