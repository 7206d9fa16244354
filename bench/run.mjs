// `npm run bench`: Hearth, @fireproof/core and PouchDB side by side.
// Each engine × storage runs in its own child process (bench/engine.mjs), one
// after the other so they never compete for the two cores; a second child
// reopens the file ledger to measure a cold start. A child that fails, hangs
// or crashes turns into FAILED cells, never into a failed bench. The sync
// section (bench/sync.mjs) follows with a table of its own, then the files
// section (bench/files.mjs: one large file A → sync point → B), with its own.
//
// Environment:
//   BENCH_N=1000                  documents per measurement (default 10000)
//   BENCH_ENGINES=hearth,pouchdb  engines to run (default all three)
//   BENCH_STORAGES=file           storages to run (default file,memory)
//   BENCH_CHILD_TIMEOUT_MS        deadline of one child (default 900000)
//   BENCH_STEP_TIMEOUT_MS         deadline of one step inside a child (default 420000)
//   BENCH_CONCURRENT_TIMEOUT_MS   deadline of the concurrent-puts step (default 120000)
//   BENCH_SECTIONS=sync           sections to run: core (the table above), sync, files
//                                 (bench/sync.mjs and bench/files.mjs list their own settings);
//                                 default all three
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { listFromEnv, runChild, seconds } from "./child.mjs";
import { ENGINE_NAMES } from "./engines.mjs";
import { runFilesSection } from "./files.mjs";
import { runSyncSection } from "./sync.mjs";
import { buildTable } from "./table.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const DATA_DIR = path.join(BENCH_DIR, ".data");
const N = Number(process.env.BENCH_N ?? 10_000);
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_CHILD_TIMEOUT_MS ?? 900_000);
/** Sections of the bench, in the order they run and print. */
const SECTIONS = ["core", "sync", "files"];

/** Runs one engine × storage phase of the core section in its own child. */
function runCoreChild(engine, storage, dir, mode) {
  return runChild("engine.mjs", [engine, storage, dir, mode], { timeoutMs: CHILD_TIMEOUT_MS, env: { BENCH_N: String(N) } });
}

function failures(results) {
  const notes = [];
  for (const [engine, byStorage] of Object.entries(results)) {
    for (const [storage, phases] of Object.entries(byStorage)) {
      for (const [phase, { steps, error }] of Object.entries(phases)) {
        if (error) notes.push(`${engine}/${storage}/${phase}: ${error}`);
        for (const [step, fields] of Object.entries(steps)) {
          if (fields.error) notes.push(`${engine}/${storage}/${step}: ${fields.error}`);
        }
      }
    }
  }
  return notes;
}

/** The core section: every engine × storage, then its table. Returns what last.json keeps. */
async function runCoreSection(engines, storages, runDir) {
  const results = {};
  console.log(`bench: ${N.toLocaleString("en-US")} docs; engines ${engines.join(", ")}; storages ${storages.join(", ")}`);
  for (const storage of storages) {
    for (const engine of engines) {
      const dir = path.join(runDir, `${engine}-${storage}`);
      await mkdir(dir, { recursive: true });
      const phases = ["main", ...(storage === "file" ? ["reopen"] : [])];
      results[engine] ??= {};
      results[engine][storage] = {};
      for (const phase of phases) {
        const t0 = performance.now();
        const outcome = await runCoreChild(engine, storage, dir, phase);
        results[engine][storage][phase] = outcome;
        console.log(`  ${engine}/${storage}/${phase}: ${seconds(performance.now() - t0)}${outcome.error ? ` (${outcome.error})` : ""}`);
      }
    }
  }
  const table = buildTable(results, storages);
  const notes = [
    ...new Set(Object.values(results).flatMap((s) => Object.values(s).flatMap((p) => p.main?.steps.notes?.notes ?? []))),
  ];
  console.log();
  console.log(`Hearth vs Fireproof / PouchDB, ${N.toLocaleString("en-US")} small docs each; ratio columns: > 1 means Hearth is better`);
  console.log("(rates: Hearth / peer; times and sizes: peer / Hearth). FAILED = ran and failed, n.a. = not run or not applicable.");
  console.log();
  console.log(table.text);
  console.log();
  for (const note of notes) console.log(`note: ${note}`);
  for (const failure of failures(results)) console.log(`FAILED ${failure}`);
  return { n: N, rows: table.rows, results };
}

async function main() {
  const sections = listFromEnv("BENCH_SECTIONS", SECTIONS);
  const engines = listFromEnv("BENCH_ENGINES", ENGINE_NAMES);
  const storages = listFromEnv("BENCH_STORAGES", ["file", "memory"]);
  const runDir = path.join(DATA_DIR, `run-${process.pid}`);
  const started = performance.now();
  let core;
  let sync;
  let files;
  try {
    if (sections.includes("core")) core = await runCoreSection(engines, storages, runDir);
    if (sections.includes("sync")) sync = await runSyncSection(engines, storages, path.join(runDir, "sync"));
    if (sections.includes("files")) files = await runFilesSection(path.join(runDir, "files"));
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
  const durationMs = performance.now() - started;
  console.log(`total bench time: ${seconds(durationMs)} (node ${process.version})`);
  await mkdir(DATA_DIR, { recursive: true });
  // The core section's fields stay at the top level, where earlier runs put them.
  const json = { node: process.version, date: new Date().toISOString(), durationMs, sections, engines, storages, ...core, sync, files };
  await writeFile(path.join(DATA_DIR, "last.json"), JSON.stringify(json, null, 2) + "\n");
  console.log(`results: ${path.relative(process.cwd(), path.join(DATA_DIR, "last.json"))}`);
}

await main();
