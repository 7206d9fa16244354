/**
 * Files across processes through a `file://` sync point: each replica its
 * own Node process, store and keyring. A 1 GiB file goes A → point → B with
 * each process's peak RSS bounded (read from its own `resourceUsage()`, not
 * timed); a transfer killed with SIGKILL part way resumes where it stopped,
 * uploads and downloads alike (the replica's remote stops answering after a
 * set number of blocks, so the kill lands at a known point).
 */
import { rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { useFileReplicas } from "./helpers/file-replicas.js";
import { keystreamDigest } from "./helpers/keystream.js";

const replicas = useFileReplicas("files-process");
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe("files across processes (file:// sync point, separate keyrings)", () => {
  it("a 1 GiB file goes A → sync point → B with each process's peak RSS under 300 MB", async () => {
    const { dir, url } = replicas.point();
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      const a = await replicas.start(dir, "a");
      started.push(a);
      await a.attach(url);
      const b = await replicas.start(dir, "b");
      started.push(b);
      await b.attach(url, await a.invite((await b.device()).publicKey));
      await a.putFile("movie", "movie.bin", GiB, 1, 300_000);
      await a.synced(30_000);
      await a.filesSynced(300_000);
      await b.synced(30_000);
      await b.filesSynced(300_000);
      expect(await b.fileDigest("movie", "movie.bin", 300_000)).toEqual({ sha256: keystreamDigest(1, GiB), size: GiB });
      const [ua, ub] = await Promise.all([a.usage(), b.usage()]);
      expect(ua.maxRssBytes).toBeLessThan(300 * 1e6);
      expect(ub.maxRssBytes).toBeLessThan(300 * 1e6);
      console.log(`files 1 GiB over file://: peak RSS A ${(ua.maxRssBytes / 1e6).toFixed(0)} MB, B ${(ub.maxRssBytes / 1e6).toFixed(0)} MB`);
    } finally {
      // Three copies of a gigabyte: gone before the next test.
      await Promise.all(started.map((p) => p.stop()));
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("an upload killed part way resumes at the block it stopped at", async () => {
    const { dir, url } = replicas.point();
    const size = 16 * MiB;
    const a = await replicas.start(dir, "a");
    await a.attach(url);
    const b = await replicas.start(dir, "b");
    const invitation = await a.invite((await b.device()).publicKey);
    await a.synced();
    await a.detach();
    // The manifest (it goes first), then five chunks; the sixth never goes.
    await a.attachFiles(url, { holdFileBlocksAfter: 6 });
    await a.putFile("doc", "f.bin", size, 2);
    await eventually(async () => expect(await a.progress()).toMatchObject({ pushed: 5 * MiB }), { timeoutMs: 30_000, what: "A to upload 5 chunks" });
    await a.kill();
    const again = await replicas.start(dir, "a");
    await again.attach(url);
    await again.filesSynced();
    // Only what was not stored yet went up after the restart.
    expect(await again.progress()).toMatchObject({ pushed: size - 5 * MiB, toPush: 0 });
    await b.attach(url, invitation);
    await b.synced();
    await b.filesSynced();
    expect(await b.fileDigest("doc", "f.bin")).toEqual({ sha256: keystreamDigest(2, size), size });
  }, 120_000);

  it("a download killed part way resumes at the block it stopped at", async () => {
    const { dir, url } = replicas.point();
    const size = 16 * MiB;
    const a = await replicas.start(dir, "a");
    await a.attach(url);
    await a.putFile("doc", "f.bin", size, 3);
    await a.synced();
    await a.filesSynced();
    const b = await replicas.start(dir, "b");
    const invitation = await a.invite((await b.device()).publicKey);
    // The manifest, then five chunks; the sixth never comes.
    await b.attachFiles(url, { invitation, holdFileBlocksAfter: 6 });
    await b.synced();
    await eventually(async () => expect(await b.progress()).toMatchObject({ fetched: 5 * MiB }), { timeoutMs: 30_000, what: "B to fetch 5 blocks" });
    await b.kill();
    const again = await replicas.start(dir, "b");
    await again.attach(url);
    await again.filesSynced();
    expect(await again.progress()).toMatchObject({ fetched: size - 5 * MiB, toFetch: 0 });
    expect(await again.fileDigest("doc", "f.bin")).toEqual({ sha256: keystreamDigest(3, size), size });
  }, 120_000);
});
