// `npm run bench:scale`: Hearth's file store vs PouchDB (leveldb) at a large
// N (default 1,000,000 docs), side by side. Every engine × N × phase is a
// child of its own (bench/scale-engine.mjs), one after the other so they
// never compete for the cores, and each child's peak RSS is that phase's
// alone: the load-only child gives the loading peak, the fresh-process
// children the cold-start ones. A child that fails, hangs or runs out of
// memory turns into FAILED cells with the reason under the table.
//
// Environment:
//   BENCH_SCALE_N=100000,1000000        doc counts, one run each (default 1000000); with
//                                       several, a last column gives Hearth's largest/smallest
//   BENCH_SCALE_ENGINES=hearth          engines to run (default hearth,pouchdb)
//   BENCH_SCALE_STEP_TIMEOUT_MS         deadline of one step inside a child (default 600000)
//   BENCH_SCALE_CHILD_TIMEOUT_MS        deadline of one child (default 1800000)
//   BENCH_SCALE_GETS_AFTER_LOAD         random gets right after the load (default 20000)
//   BENCH_SCALE_FRESH_GETS              random gets in the fresh-process row (default 100000)
//   BENCH_SCALE_WARM_GETS               documents read twice for the warm-gets row (default 2000)
import { execFileSync } from "node:child_process";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { listFromEnv, runChild, seconds } from "./child.mjs";
import { buildScaleTable, SCALE_ENGINES, shortN } from "./scale-table.mjs";
import { errorText } from "./step.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const DATA_DIR = path.join(BENCH_DIR, ".data");
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_SCALE_CHILD_TIMEOUT_MS ?? 1_800_000);
const STEP_TIMEOUT_MS = Number(process.env.BENCH_SCALE_STEP_TIMEOUT_MS ?? 600_000);
const GETS_AFTER_LOAD = Number(process.env.BENCH_SCALE_GETS_AFTER_LOAD ?? 20_000);
const FRESH_GETS = Number(process.env.BENCH_SCALE_FRESH_GETS ?? 100_000);
const WARM_GETS = Number(process.env.BENCH_SCALE_WARM_GETS ?? 2_000);
/** Children per engine × N, in the order they run; `main` writes the ledger the fresh processes read. */
const PHASES = ["main", "oneGet", "gets", "allDocs", "rss", "query", "random", "session"];

/** `100000,1000000` → [100000, 1000000], ascending, refusing anything but positive integers. */
function sizesFromEnv() {
  const raw = process.env.BENCH_SCALE_N ?? "1000000";
  const sizes = raw.split(",").map((s) => s.trim().replaceAll("_", "")).filter(Boolean).map(Number);
  if (!sizes.length || sizes.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new TypeError(`BENCH_SCALE_N: expected positive integers separated by commas, got ${raw}`);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Bytes under `dir` per top-level entry, without the keyring (Hearth's key file is not data). */
async function diskBytes(dir) {
  const byEntry = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "keyring") continue;
    byEntry[entry.name] = await treeBytes(path.join(dir, entry.name), entry);
  }
  return { bytes: Object.values(byEntry).reduce((a, b) => a + b, 0), byEntry };
}

async function treeBytes(p, entry) {
  if (entry.isFile()) return (await stat(p)).size;
  if (!entry.isDirectory()) return 0;
  let total = 0;
  for (const child of await readdir(p, { withFileTypes: true })) total += await treeBytes(path.join(p, child.name), child);
  return total;
}

function gitCommit() {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: BENCH_DIR, encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

/** Runs every phase of one engine at one N; the ledger directories are removed afterwards. */
async function runEngine(engine, n, runDir) {
  const dir = path.join(runDir, `${engine}-${n}`);
  // The load-only child writes a ledger of its own, so the main ledger's
  // fresh-process readers never see a second writer's leftovers.
  const rssDir = `${dir}-rss`;
  const randomDir = `${dir}-random`;
  const outcome = {};
  const env = { BENCH_SCALE_N: String(n), BENCH_SCALE_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS) };
  try {
    for (const phase of PHASES) {
      // The query phase builds the index the rss phase's ledger lacks; an
      // engine whose build already failed in the main phase (PouchDB's view
      // at 1M, past the step deadline) would only fail it again, slowly.
      const mainBuild = outcome.main?.steps?.queryBuild;
      if (phase === "query" && (mainBuild === undefined || mainBuild.error !== undefined)) {
        outcome.query = { steps: {}, error: "not run: the main phase's query build failed" };
        console.log(`  ${engine} ${shortN(n)} query: not run (the main phase's query build failed)`);
        continue;
      }
      const phaseDir = phase === "rss" || phase === "query" ? rssDir : phase === "random" ? randomDir : dir;
      await mkdir(phaseDir, { recursive: true });
      const t0 = performance.now();
      outcome[phase] = await runChild("scale-engine.mjs", [engine, phaseDir, phase], { timeoutMs: CHILD_TIMEOUT_MS, env });
      outcome[phase].wallMs = performance.now() - t0;
      console.log(`  ${engine} ${shortN(n)} ${phase}: ${seconds(outcome[phase].wallMs)}${outcome[phase].error ? ` (${outcome[phase].error})` : ""}`);
      if (phase === "main") {
        // Measured once the writer has exited: whatever it left, closed or not.
        // PouchDB keeps its view in a sibling leveldb, hence the whole directory.
        try {
          outcome.disk = { steps: { bytes: await diskBytes(dir) } };
          if (outcome.main.steps.close?.error !== undefined || outcome.main.error) {
            outcome.disk.steps.bytes.note = "measured after a main child that did not close cleanly";
          }
        } catch (err) {
          outcome.disk = { steps: { bytes: { error: errorText(err) } } };
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(rssDir, { recursive: true, force: true });
    await rm(randomDir, { recursive: true, force: true });
  }
  return outcome;
}

/** Every failed child or step, one line each, for the footnotes. */
function failures(results) {
  const lines = [];
  for (const [n, byEngine] of Object.entries(results)) {
    for (const [engine, phases] of Object.entries(byEngine)) {
      for (const [phase, { steps, error }] of Object.entries(phases)) {
        if (error) lines.push(`${engine}/${shortN(Number(n))}/${phase}: ${error}`);
        for (const [step, fields] of Object.entries(steps)) {
          if (fields.error) lines.push(`${engine}/${shortN(Number(n))}/${phase}/${step}: ${fields.error}`);
        }
      }
    }
  }
  return lines;
}

async function main() {
  const sizes = sizesFromEnv();
  const engines = listFromEnv("BENCH_SCALE_ENGINES", SCALE_ENGINES.map((e) => e.name));
  const runDir = path.join(DATA_DIR, `scale-${process.pid}`);
  const commit = gitCommit();
  const started = performance.now();
  console.log(
    `bench:scale: N = ${sizes.map((n) => n.toLocaleString("en-US")).join(", ")}; engines ${engines.join(", ")}; file storage; ` +
      `deadlines ${STEP_TIMEOUT_MS / 1000} s per step, ${CHILD_TIMEOUT_MS / 1000} s per child; commit ${commit?.slice(0, 10) ?? "unknown"}`,
  );
  const results = {};
  const timings = {};
  try {
    for (const n of sizes) {
      results[n] = {};
      for (const engine of engines) {
        const t0 = performance.now();
        results[n][engine] = await runEngine(engine, n, runDir);
        timings[`${engine}/${n}`] = performance.now() - t0;
      }
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
  const settings = { getsAfterLoad: GETS_AFTER_LOAD, freshGets: FRESH_GETS, warmGets: Math.min(WARM_GETS, sizes[0]) };
  const table = buildScaleTable(results, sizes, settings);
  const notes = [
    ...new Set(Object.values(results).flatMap((e) => Object.values(e).flatMap((p) => p.main?.steps.notes?.notes ?? []))),
  ];
  console.log();
  console.log(`Hearth (file store) vs PouchDB (leveldb) at scale; "vs Pouch": > 1 means Hearth is better`);
  console.log("(rates: Hearth / PouchDB; times and sizes: PouchDB / Hearth). FAILED = ran and failed, n.a. = not run.");
  if (sizes.length > 1) {
    const grew = sizes.at(-1) / sizes[0];
    console.log(
      `Last column: Hearth's own figure at ${shortN(sizes.at(-1))} / at ${shortN(sizes[0])} (N grew ${grew}×: a time growing ` +
        `linearly reads ${grew}×, a rate that holds reads 1×).`,
    );
  }
  console.log();
  console.log(table.text);
  console.log();
  for (const note of notes) console.log(`note: ${note}`);
  for (const [count, what] of [[GETS_AFTER_LOAD, "gets after the load"], [FRESH_GETS, "fresh-process gets"]]) {
    const fewer = sizes.filter((n) => n < count);
    if (fewer.length) console.log(`note: ${fewer.map(shortN).join(", ")}: ${what} read every doc once (N < ${count.toLocaleString("en-US")})`);
  }
  for (const [n, byEngine] of Object.entries(results)) {
    for (const [engine, { disk }] of Object.entries(byEngine)) {
      if (disk?.steps.bytes.note) console.log(`note: ${engine}/${shortN(Number(n))} bytes on disk ${disk.steps.bytes.note}`);
    }
  }
  for (const failure of failures(results)) console.log(`FAILED ${failure}`);
  const durationMs = performance.now() - started;
  console.log(
    `time per engine × N: ${Object.entries(timings).map(([k, ms]) => `${k} ${seconds(ms)}`).join(", ")}; ` +
      `total ${seconds(durationMs)} (node ${process.version})`,
  );
  await mkdir(DATA_DIR, { recursive: true });
  const json = {
    node: process.version,
    date: new Date().toISOString(),
    commit,
    durationMs,
    sizes,
    engines,
    settings: { ...settings, stepTimeoutMs: STEP_TIMEOUT_MS, childTimeoutMs: CHILD_TIMEOUT_MS },
    timings,
    rows: table.rows,
    results,
  };
  const out = path.join(DATA_DIR, "scale-last.json");
  await writeFile(out, JSON.stringify(json, null, 2) + "\n");
  console.log(`results: ${path.relative(process.cwd(), out)}`);
}

await main();
