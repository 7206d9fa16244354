// The file store's write lock: one holder at a time across handles,
// worker threads, processes, PID namespaces (containers on one host) and compactions;
// released by the kernel when a holder dies; not defeated by deleting
// files; `wait` to queue behind a holder. Children are real processes
// running the bundled store (test/fixtures/store-child.mjs).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import { openFileStore, type FileByteStore } from "../src/store/file.js";
import { checkRejects, utf8 } from "../src/testing/harness.js";
import { bundleForNode } from "./helpers/bundle.js";
import { withDeadline } from "./helpers/eventually.js";
import { rng } from "./helpers/rng.js";

const root = fs.mkdtempSync(join(tmpdir(), "hearth-store-lock-"));
let dirCounter = 0;
const freshDir = (): string => join(root, `case-${dirCounter++}`);
const fixture = fileURLToPath(new URL("./fixtures/store-child.mjs", import.meta.url));
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));
let bundleUrl = "";
const children: ChildProcess[] = [];
const stores: FileByteStore[] = [];

beforeAll(async () => {
  // The child runs plain Node, so it gets the store as one bundled ES module.
  const outfile = join(root, "file-store-bundle.mjs");
  await bundleForNode(new URL("../src/store/file.ts", import.meta.url), outfile);
  bundleUrl = pathToFileURL(outfile).href;
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function openTracked(dir: string, options?: Parameters<typeof openFileStore>[1]): Promise<FileByteStore> {
  const store = await openFileStore(dir, options);
  stores.push(store);
  return store;
}

/** A child holding (or failing to open) a store; lines are read in order, each with a deadline. */
interface Child {
  readonly process: ChildProcess;
  nextLine(): Promise<string>;
  send(command: string): void;
  exited(): Promise<void>;
  /** Every "acked <key>" line seen so far (also those not yet taken by nextLine). */
  readonly acked: string[];
}

/**
 * Starts the fixture on `dir`; `prefix` runs it under another command
 * (`unshare …`). Lines "acked <key>" are collected into `acked` as they
 * arrive and not queued, so a churning child cannot flood `nextLine`.
 */
function startChild(dir: string, options: object = {}, prefix: string[] = []): Child {
  const argv = [...prefix, process.execPath, fixture, bundleUrl, dir, JSON.stringify(options)];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const lines: string[] = [];
  const acked: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.startsWith("acked ")) {
      acked.push(line.slice("acked ".length));
      return;
    }
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  // "close", not "exit": every line the child wrote has been read by then.
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return {
    process: child,
    acked,
    nextLine: () =>
      withDeadline(
        new Promise<string>((resolve) => {
          const line = lines.shift();
          if (line !== undefined) resolve(line);
          else waiting.push(resolve);
        }),
        20_000,
        "a line from the child",
      ),
    send: (command) => void child.stdin!.write(`${command}\n`),
    exited: () => withDeadline(exited, 20_000, "the child to exit"),
  };
}

/** Resolves once `child` has acknowledged at least `n` writes. */
async function ackedAtLeast(child: Child, n: number): Promise<void> {
  await withDeadline(
    (async () => {
      while (child.acked.length < n) await new Promise((resolve) => setTimeout(resolve, 2));
    })(),
    20_000,
    `${n} acknowledged writes`,
  );
}

describe("file store lock: one holder across handles and processes", () => {
  it("LOCKED while a live process holds the store, naming it and suggesting no deletion; free again after it closes", async () => {
    const dir = freshDir();
    const holder = startChild(dir);
    expect(await holder.nextLine()).toBe("ready");
    holder.send("put from-child hello");
    expect(await holder.nextLine()).toBe("ok");
    const err = (await checkRejects(openFileStore(dir), "LOCKED")) as HearthError;
    expect(err.message).toContain(`process ${holder.process.pid}`);
    expect(err.message).not.toMatch(/delete|remove|rm /i);
    holder.send("close");
    expect(await holder.nextLine()).toBe("closed");
    await holder.exited();
    const store = await openTracked(dir);
    expect(text(await store.get("from-child"))).toBe("hello");
  });

  it("a child cannot open a store this process holds", async () => {
    const dir = freshDir();
    await openTracked(dir);
    const child = startChild(dir);
    expect(await child.nextLine()).toMatch(/^error LOCKED .*this process|^error LOCKED .*process \d+/);
  });

  it("a second handle in the same process gets LOCKED; close releases the lock", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const err = (await checkRejects(openFileStore(dir), "LOCKED")) as HearthError;
    expect(err.message).toContain("this process (another open handle)");
    await store.close();
    await openTracked(dir);
  });

  it("a worker thread of this process cannot open a store the main thread holds", async () => {
    const dir = freshDir();
    const store = await openTracked(dir);
    const tryInWorker = async (): Promise<string> => {
      const source = `
        const { parentPort, workerData } = require("node:worker_threads");
        import(workerData.bundleUrl)
          .then(({ openFileStore }) => openFileStore(workerData.dir))
          .then((s) => s.close().then(() => parentPort.postMessage("opened")), (err) => parentPort.postMessage(err.code));`;
      const worker = new Worker(source, { eval: true, workerData: { bundleUrl, dir } });
      try {
        return await withDeadline(new Promise<string>((resolve) => worker.once("message", resolve)), 20_000, "the worker's answer");
      } finally {
        await worker.terminate();
      }
    };
    expect(await tryInWorker()).toBe("LOCKED");
    await store.close();
    expect(await tryInWorker()).toBe("opened");
  });

  it("a SIGKILLed holder's lock is released by the kernel: the next open succeeds at once, with every acknowledged write", async () => {
    const dir = freshDir();
    const holder = startChild(dir);
    expect(await holder.nextLine()).toBe("ready");
    holder.send("churn 100000");
    await ackedAtLeast(holder, 200);
    holder.process.kill("SIGKILL");
    await holder.exited();
    const store = await openTracked(dir);
    const keys = new Set(await store.list("churn/"));
    expect(holder.acked.filter((key) => !keys.has(key))).toEqual([]);
  });

  it("deleting LOCK, HOLDER or COMMIT under a live holder: a second opener still gets LOCKED", async () => {
    const dir = freshDir();
    const holder = startChild(dir);
    expect(await holder.nextLine()).toBe("ready");
    holder.send("put a 1");
    expect(await holder.nextLine()).toBe("ok");
    fs.writeFileSync(join(dir, "LOCK"), "12345\n"); // what an earlier version would have left
    for (const name of ["LOCK", "HOLDER", "COMMIT"]) {
      fs.rmSync(join(dir, name), { force: true });
      await checkRejects(openFileStore(dir), "LOCKED");
      holder.send(`put after-${name} 1`);
      expect(await holder.nextLine()).toBe("ok");
    }
  });

  it("a log moved away under a live holder: the next opener gets INTEGRITY, not a fresh empty store", async () => {
    const dir = freshDir();
    const holder = startChild(dir, { compactMinBytes: 2 ** 30 });
    expect(await holder.nextLine()).toBe("ready");
    holder.send("put a 1");
    expect(await holder.nextLine()).toBe("ok");
    const [log] = fs.readdirSync(dir).filter((n) => n.endsWith(".hlog"));
    fs.renameSync(join(dir, log as string), join(root, `moved-${dirCounter}.hlog`));
    holder.send("put b 2"); // the holder writes on, into the file it holds
    expect(await holder.nextLine()).toBe("ok");
    await checkRejects(openFileStore(dir), "INTEGRITY");
    expect(fs.readdirSync(dir).filter((n) => n.endsWith(".hlog"))).toEqual([]); // nothing created
  });

  it("an opener racing a holder that compacts again and again never gets in", async () => {
    const dir = freshDir();
    const holder = startChild(dir);
    expect(await holder.nextLine()).toBe("ready");
    holder.send("churn 3000");
    let attempts = 0;
    let generationsSeen = 0;
    // Open as fast as possible while the holder publishes a new log every 25 writes.
    while (holder.acked.length < 2500) {
      await checkRejects(openFileStore(dir), "LOCKED");
      attempts++;
      generationsSeen = Math.max(generationsSeen, ...fs.readdirSync(dir).map((n) => Number(/^log-(\d+)\.hlog$/.exec(n)?.[1] ?? 0)));
    }
    expect(await holder.nextLine()).toBe("churned");
    expect(attempts).toBeGreaterThan(10);
    expect(generationsSeen).toBeGreaterThan(10);
    holder.send("close");
    expect(await holder.nextLine()).toBe("closed");
    const store = await openTracked(dir);
    expect((await store.list("churn/")).length).toBe(3000);
  });

  it("a LOCK file left by an earlier version is ignored and removed", async () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, "LOCK"), `${process.pid}\n`);
    await openTracked(dir);
    expect(fs.existsSync(join(dir, "LOCK"))).toBe(false);
  });
});

describe("file store lock: waiting for the holder", () => {
  it("wait: true opens as soon as the holder closes, with what it wrote", async () => {
    const dir = freshDir();
    const first = await openFileStore(dir);
    let opened = false;
    const second = openTracked(dir, { wait: true }).then((store) => {
      opened = true;
      return store;
    });
    await first.write({ put: [["k", utf8("from the first")]] });
    await new Promise((resolve) => setTimeout(resolve, 30)); // several polls: it must still be waiting
    expect(opened).toBe(false);
    await first.close();
    const store = await withDeadline(second, 5_000, "the waiting open");
    expect(text(await store.get("k"))).toBe("from the first");
  });

  it("wait: { timeoutMs } gives up with LOCKED; an aborted signal too", async () => {
    const dir = freshDir();
    await openTracked(dir);
    const err = (await checkRejects(openFileStore(dir, { wait: { timeoutMs: 40 } }), "LOCKED")) as HearthError;
    expect(err.message).toContain("after waiting");
    const controller = new AbortController();
    const waiting = openFileStore(dir, { wait: { signal: controller.signal } });
    controller.abort(new Error("the user gave up"));
    const aborted = (await checkRejects(waiting, "LOCKED")) as HearthError;
    expect((aborted.cause as Error).message).toBe("the user gave up");
    await checkRejects(openFileStore(dir, { wait: { timeoutMs: -1 } }), "INVALID_ARGUMENT");
    await checkRejects(openFileStore(dir, { wait: "yes" as never }), "TypeError");
  });

  it("destroy while another process waits: the waiter gets a fresh, working store, never a half-deleted one", async () => {
    const dir = freshDir();
    const store = await openFileStore(dir);
    await store.write({ put: [["old", utf8("gone with the store")]] });
    const waiter = startChild(dir, { wait: true });
    await store.destroy();
    expect(await waiter.nextLine()).toBe("ready");
    waiter.send("list");
    expect(await waiter.nextLine()).toBe("keys []");
    waiter.send("put new 1");
    expect(await waiter.nextLine()).toBe("ok");
    waiter.send("close");
    expect(await waiter.nextLine()).toBe("closed");
    const again = await openTracked(dir);
    expect(await again.list("")).toEqual(["new"]);
    expect(fs.readdirSync(root).filter((n) => n.includes(".destroyed-"))).toEqual([]);
  });

  it("a child waiting with wait: true takes over when the holder process is killed", async () => {
    const dir = freshDir();
    const holder = startChild(dir);
    expect(await holder.nextLine()).toBe("ready");
    holder.send("churn 100000");
    await ackedAtLeast(holder, 50);
    const waiter = startChild(dir, { wait: true });
    await ackedAtLeast(holder, holder.acked.length + 50); // the waiter polls meanwhile
    holder.process.kill("SIGKILL");
    await holder.exited();
    expect(await waiter.nextLine()).toBe("ready");
    waiter.send("list");
    const keys = new Set(JSON.parse((await waiter.nextLine()).slice("keys ".length)) as string[]);
    expect(holder.acked.filter((key) => !keys.has(key))).toEqual([]);
  });
});

/** Why two PID namespaces cannot be made here, or undefined if they can. */
function whyNoPidNamespaces(): string | undefined {
  if (process.platform !== "linux") return "PID namespaces exist only on Linux";
  if (process.getuid?.() !== 0) return "creating PID namespaces needs root (CI runs as root)";
  const probe = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "true"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) return `unshare --pid --fork --mount-proc failed here (${probe.error?.message ?? `exit ${probe.status}`})`;
  return undefined;
}

describe("file store lock: containers on one host (separate PID namespaces)", () => {
  const UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];

  it("the second never opens while the first lives, and opens at once after the first is SIGKILLed; no acknowledged write lost", async (context) => {
    const why = whyNoPidNamespaces();
    if (why) {
      console.log(`not run: ${why}`);
      context.skip();
    }
    const random = rng(Date.now() >>> 0);
    const dir = freshDir();
    const first = startChild(dir, {}, UNSHARE);
    expect(await first.nextLine()).toBe("ready");
    first.send("churn 1000000");
    // Several openers from other namespaces while the first writes (each in its own namespace, where pid 1 is itself).
    for (let attempt = 0; attempt < 4; attempt++) {
      await ackedAtLeast(first, first.acked.length + 20 + Math.floor(random() * 200));
      const second = startChild(dir, {}, UNSHARE);
      const line = await second.nextLine();
      expect(line).toMatch(/^error LOCKED /);
      expect(line).toContain("another PID namespace");
      expect(line).not.toMatch(/delete|remove|rm /i);
      await second.exited();
    }
    // SIGKILL to unshare: --kill-child takes the first (pid 1 of its namespace, and so the namespace) down with it.
    first.process.kill("SIGKILL");
    await first.exited();
    const third = startChild(dir, {}, UNSHARE);
    expect(await third.nextLine()).toBe("ready");
    third.send("list");
    const keys = new Set(JSON.parse((await third.nextLine()).slice("keys ".length)) as string[]);
    expect(first.acked.length).toBeGreaterThan(80);
    expect(first.acked.filter((key) => !keys.has(key))).toEqual([]);
    third.send("close");
    expect(await third.nextLine()).toBe("closed");
  });
});
