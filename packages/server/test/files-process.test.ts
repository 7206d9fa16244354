/**
 * Files across processes through `hearth serve` (its own process, the
 * bundled CLI, filesystem data directory): a 1 GiB file goes A → server →
 * B, each replica its own process, store and keyring, with the peak RSS of
 * all three bounded (the replicas' from their own `resourceUsage()`, the
 * server's from the kernel's high-water mark), not timed.
 */
import { rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { keystreamDigest } from "../../core/test/helpers/keystream.js";
import { useServeWithReplicas } from "./helpers/serve-replicas.js";

const serve = useServeWithReplicas("files-process", "fp");
const GiB = 1024 ** 3;

describe("files across processes through hearth serve", () => {
  it("a 1 GiB file goes A → server → B with every process's peak RSS under 300 MB (server under 200 MB)", async () => {
    const { dir, url } = await serve.point();
    const a = await serve.start(dir, "a");
    const b = await serve.start(dir, "b");
    try {
      await a.attach(url);
      await b.attach(url, await a.invite((await b.device()).publicKey));
      await a.putFile("movie", "movie.bin", GiB, 7, 300_000);
      await a.synced(30_000);
      await a.filesSynced(300_000);
      await b.synced(30_000);
      await b.filesSynced(300_000);
      expect(await b.fileDigest("movie", "movie.bin", 300_000)).toEqual({ sha256: keystreamDigest(7, GiB), size: GiB });
      const [ua, ub, server] = await Promise.all([a.usage(), b.usage(), serve.serverPeakRss()]);
      console.log(`files 1 GiB through hearth serve: peak RSS A ${(ua.maxRssBytes / 1e6).toFixed(0)} MB, B ${(ub.maxRssBytes / 1e6).toFixed(0)} MB, server ${(server / 1e6).toFixed(0)} MB`);
      expect(ua.maxRssBytes).toBeLessThan(300 * 1e6);
      expect(ub.maxRssBytes).toBeLessThan(300 * 1e6);
      expect(server).toBeLessThan(200 * 1e6);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
