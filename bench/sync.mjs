// The sync section of `npm run bench`: how fast a write reaches another
// replica, how fast a late joiner catches up, how fast concurrent writers
// converge; Hearth, Fireproof (two key set-ups) and PouchDB. Every
// measurement of every engine on every remote runs in its own child
// (bench/sync-engine.mjs), one after the other.
//
// Environment (besides BENCH_ENGINES / BENCH_STORAGES, which pick engines
// and remotes here too):
//   BENCH_SYNC_WRITES=1000             writes timed from A to B
//   BENCH_SYNC_DOCS=10000              docs the late joiner fetches
//   BENCH_SYNC_REPLICAS=5              replicas writing at once
//   BENCH_SYNC_EACH=1000               puts per replica
//   BENCH_SYNC_VISIBLE_TIMEOUT_MS      one write not seen on B after this fails the row (default 10000)
//   BENCH_SYNC_STALL_TIMEOUT_MS        replicas making no progress this long fail the row (default 20000)
//   BENCH_SYNC_STEP_TIMEOUT_MS         deadline of one measurement (default 300000)
//   BENCH_SYNC_REPLICAS_TIMEOUT_MS     deadline of the replicas measurement (default 120000)
//   BENCH_SYNC_CHILD_TIMEOUT_MS        deadline of one child (default 420000)
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { runChild, seconds } from "./child.mjs";
import { SYNC_ENGINES } from "./sync-engines.mjs";
import { buildSyncTable } from "./sync-table.mjs";

const MEASUREMENTS = ["latency", "lateJoin", "replicas"];
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_SYNC_CHILD_TIMEOUT_MS ?? 420_000);

/** The sizes of this run, from the environment, defaults as documented above. */
function settingsFromEnv() {
  const num = (name, fallback) => {
    const value = Number(process.env[name] ?? fallback);
    if (!(Number.isSafeInteger(value) && value > 0)) throw new TypeError(`${name} must be a positive integer, got ${process.env[name]}`);
    return value;
  };
  return {
    writes: num("BENCH_SYNC_WRITES", 1_000),
    docs: num("BENCH_SYNC_DOCS", 10_000),
    replicas: num("BENCH_SYNC_REPLICAS", 5),
    each: num("BENCH_SYNC_EACH", 1_000),
  };
}

function failures(results) {
  const notes = [];
  for (const [engine, byRemote] of Object.entries(results)) {
    for (const [remote, byMeasurement] of Object.entries(byRemote)) {
      for (const [measurement, { steps, error }] of Object.entries(byMeasurement)) {
        if (error) notes.push(`${engine}/${remote}/${measurement}: ${error}`);
        for (const [step, fields] of Object.entries(steps)) {
          if (fields.error) notes.push(`${engine}/${remote}/${step}: ${fields.error}`);
        }
      }
    }
  }
  return notes;
}

/**
 * Runs the sync section and prints its table.
 * @param {string[]} engines core-section engine names picked by BENCH_ENGINES
 * @param {string[]} remotes "file" and/or "memory" (BENCH_STORAGES)
 * @param {string} runDir scratch directory, removed by the caller
 * @returns {Promise<{ settings: object, rows: object[], results: object }>} what last.json keeps
 */
export async function runSyncSection(engines, remotes, runDir) {
  const settings = settingsFromEnv();
  const syncEngines = SYNC_ENGINES.filter((e) => engines.includes(e.family)).map((e) => e.name);
  const results = {};
  console.log(
    `sync: ${settings.writes.toLocaleString("en-US")} writes A → B; late joiner of ${settings.docs.toLocaleString("en-US")} docs; ` +
      `${settings.replicas} replicas × ${settings.each.toLocaleString("en-US")} puts; engines ${syncEngines.join(", ")}; remotes ${remotes.join(", ")}`,
  );
  const env = Object.fromEntries(Object.entries(settings).map(([k, v]) => [`BENCH_SYNC_${k.toUpperCase()}`, String(v)]));
  for (const remote of remotes) {
    for (const engine of syncEngines) {
      results[engine] ??= {};
      results[engine][remote] = {};
      for (const measurement of MEASUREMENTS) {
        const dir = path.join(runDir, `${engine}-${remote}-${measurement}`);
        await mkdir(dir, { recursive: true });
        const t0 = performance.now();
        const outcome = await runChild("sync-engine.mjs", [engine, remote, dir, measurement], { timeoutMs: CHILD_TIMEOUT_MS, env });
        results[engine][remote][measurement] = outcome;
        const failed = outcome.error ?? outcome.steps[measurement]?.error;
        console.log(`  ${engine}/${remote}/${measurement}: ${seconds(performance.now() - t0)}${failed ? " (FAILED)" : ""}`);
      }
    }
  }
  const table = buildSyncTable(results, remotes, settings);
  const notes = [
    ...new Set(Object.values(results).flatMap((r) => Object.values(r).flatMap((m) => Object.values(m).flatMap((o) => o.steps.notes?.notes ?? [])))),
  ];
  console.log();
  console.log("Sync: Hearth vs Fireproof / PouchDB; every row is a time (ms, lower is better); ratio columns are peer / Hearth, > 1 means Hearth is better.");
  console.log("A and B (and every replica) have separate keyrings except in 'FP shared key'. FAILED = ran and failed (reason below), n.a. = not run.");
  console.log();
  console.log(table.text);
  console.log();
  for (const note of notes) console.log(`note: ${note}`);
  for (const failure of failures(results)) console.log(`FAILED ${failure}`);
  return { settings, rows: table.rows, results };
}
