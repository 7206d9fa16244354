// The load test harness (bench/load.mjs) at a tiny scale: a real `hearth
// serve` process, 10 clients (separate devices) over 2 ledgers in 2 client
// processes, writing for 3 s. Asserts correctness only — every
// acknowledged write is on every client of its ledger, all clients of a
// ledger agree on the root, every write reached every other client's
// subscribe callback — never timing, which depends on the machine.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { bundleCli } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, tempDir } from "./helpers/server.js";

const LOAD = fileURLToPath(new URL("../../../bench/load.mjs", import.meta.url));

afterAll(cleanup);

interface LoadRun {
  errors: string[];
  writes: { issued: number; acked: number };
  deliveries: { seen: number; expected: number };
  verify: { missing: number; rootsDiffer: number; firstCheck: { missing: number; rootsDiffer: number }; docsPerClient: { count: number } };
}

describe("load test harness, small", () => {
  it("10 clients × 2 ledgers for 3 s: every acknowledged write on every client, one root per ledger", async () => {
    const dir = tempDir("hearth-load-smoke-");
    const cli = await bundleCli(dir);
    const out = join(dir, "load.json");
    const child = spawn(process.execPath, [LOAD], {
      env: {
        ...process.env,
        LOAD_CLI: cli,
        LOAD_OUT: out,
        LOAD_CLIENTS: "10",
        LOAD_LEDGERS: "2",
        LOAD_WORKERS: "2",
        LOAD_SECONDS: "3",
        LOAD_RATE: "5",
        LOAD_SETTLE_TIMEOUT_MS: "30000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
    let code: number | string;
    try {
      code = await withDeadline(exited, 100_000, "bench/load.mjs");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }

    const { runs } = JSON.parse(readFileSync(out, "utf8")) as { runs: LoadRun[] };
    const run = runs[0]!;
    expect(run.errors, output).toEqual([]);
    expect(run.writes.acked).toBeGreaterThan(0);
    expect(run.writes.acked).toBe(run.writes.issued);
    expect(run.verify.docsPerClient.count).toBe(10);
    expect(run.verify.firstCheck).toEqual({ missing: 0, rootsDiffer: 0 });
    expect(run.deliveries.seen).toBe(run.deliveries.expected);
    expect(code, output).toBe(0);
  }, 120_000);
});
