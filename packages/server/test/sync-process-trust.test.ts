/**
 * Trust across processes through a real sync server: roles, removal,
 * rotation after removal, a share code replayed by the point, and a point
 * rolling its membership log back (core's `helpers/process-trust-suite.ts`).
 * `hearth serve` runs as its own process (the bundled CLI) on a filesystem
 * data directory; each test mints a read-write token for a ledger of its
 * own; every replica is a separate Node process with its own store and
 * keyring directory. The test acts as the point's operator through the
 * server's HTTP API with that token, as any holder of a read-write token
 * could (it is given no more than ciphertext and signed entries).
 */
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { openHttpRemote } from "@hearth/core";
import { describeTrustAcrossProcesses } from "../../core/test/helpers/process-trust-suite.js";
import { bundleCli, runCli, startServeProcess, type CliProcess } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { bundleReplica, ReplicaProcess } from "./helpers/replica.js";
import { cleanup, tempDir, uniqueLedger } from "./helpers/server.js";

let root = "";
let cli = "";
let script = "";
let data = "";
let server: { proc: CliProcess; url: string } | undefined;
let counter = 0;
const running = new Set<ReplicaProcess>();

beforeAll(async () => {
  root = tempDir("hearth-server-sync-process-trust-");
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

describeTrustAcrossProcesses("sync trust across processes, through hearth serve (separate keyrings)", {
  async point() {
    const ledger = uniqueLedger("trust");
    const minted = await runCli(cli, ["token", "create", "--ledger", ledger, "--rights", "rw", "--data", data]);
    expect(minted.code, minted.stderr).toBe(0);
    return { dir: join(root, `t${counter++}`), url: `${server!.url}/${ledger}?token=${minted.stdout.trim()}` };
  },
  async start(dir, name) {
    const replica = await ReplicaProcess.start(script, dir, name);
    running.add(replica);
    return replica;
  },
  raw: (url) => openHttpRemote(url),
});
