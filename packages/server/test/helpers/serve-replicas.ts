/**
 * A real `hearth serve` process and replica processes for the cross-process
 * sync tests: registers the vitest hooks that start the server once per
 * file, stop every replica after each test, and stop the server (SIGTERM, as
 * an operator would; SIGKILL only if it hangs) at the end.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { bundleCli, runCli, startServeProcess, type CliProcess } from "./cli.js";
import { withDeadline } from "./deadline.js";
import { bundleReplica, ReplicaProcess } from "./replica.js";
import { cleanup, tempDir, uniqueLedger } from "./server.js";

/** What a test file gets from {@link useServeWithReplicas}. */
export interface ServeWithReplicas {
  /** A fresh directory for one test's replicas, and the server URL (with a new read-write token) of a ledger of its own. */
  point(): Promise<{ dir: string; url: string }>;
  /** Starts replica `name` under `dir` (stopped after the test). */
  start(dir: string, name: string): Promise<ReplicaProcess>;
  /** The server process's peak RSS so far, in bytes (Linux: `VmHWM` of `/proc/<pid>/status`). */
  serverPeakRss(): Promise<number>;
}

/** Registers the hooks; `label` names the temp directory, `ledgerPrefix` the ledgers. */
export function useServeWithReplicas(label: string, ledgerPrefix: string): ServeWithReplicas {
  let root = "";
  let cli = "";
  let script = "";
  let data = "";
  let server: { proc: CliProcess; url: string } | undefined;
  let counter = 0;
  const running = new Set<ReplicaProcess>();

  beforeAll(async () => {
    root = tempDir(`hearth-server-${label}-`);
    data = join(root, "data");
    [cli, script] = await Promise.all([bundleCli(root), bundleReplica(root)]);
    server = await startServeProcess(cli, ["--data", data, "--port", "0"]);
  });

  afterEach(async () => {
    await Promise.all([...running].map((p) => p.stop()));
    running.clear();
  });

  afterAll(async () => {
    if (server) {
      server.proc.child.kill("SIGTERM");
      await withDeadline(server.proc.exited, 10_000, "hearth serve to stop").catch(() => server!.proc.child.kill("SIGKILL"));
    }
    await cleanup();
  });

  return {
    async point() {
      const ledger = uniqueLedger(ledgerPrefix);
      const minted = await runCli(cli, ["token", "create", "--ledger", ledger, "--rights", "rw", "--data", data]);
      expect(minted.code, minted.stderr).toBe(0);
      return { dir: join(root, `t${counter++}`), url: `${server!.url}/${ledger}?token=${minted.stdout.trim()}` };
    },
    async start(dir, name) {
      const replica = await ReplicaProcess.start(script, dir, name);
      running.add(replica);
      return replica;
    },
    async serverPeakRss() {
      const status = await readFile(`/proc/${server!.proc.child.pid}/status`, "utf8");
      const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kib === undefined) throw new Error(`no VmHWM in /proc/${server!.proc.child.pid}/status`);
      return Number(kib) * 1024;
    },
  };
}
