// `npm run bench`: Hearth, @fireproof/core and PouchDB side by side.
// Each engine × storage runs in its own child process (bench/engine.mjs), one
// after the other so they never compete for the two cores; a second child
// reopens the file ledger to measure a cold start. A child that fails, hangs
// or crashes turns into FAILED cells, never into a failed bench.
//
// Environment:
//   BENCH_N=1000                  documents per measurement (default 10000)
//   BENCH_ENGINES=hearth,pouchdb  engines to run (default all three)
//   BENCH_STORAGES=file           storages to run (default file,memory)
//   BENCH_CHILD_TIMEOUT_MS        deadline of one child (default 900000)
//   BENCH_STEP_TIMEOUT_MS         deadline of one step inside a child (default 420000)
//   BENCH_CONCURRENT_TIMEOUT_MS   deadline of the concurrent-puts step (default 120000)
import { spawn } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import { ENGINE_NAMES } from "./engines.mjs";
import { buildTable } from "./table.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const DATA_DIR = path.join(BENCH_DIR, ".data");
const N = Number(process.env.BENCH_N ?? 10_000);
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_CHILD_TIMEOUT_MS ?? 900_000);
const MARK = "@@bench ";

function listFromEnv(name, allowed) {
  const raw = process.env[name];
  if (!raw) return allowed;
  const picked = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = picked.filter((p) => !allowed.includes(p));
  if (unknown.length) throw new TypeError(`${name}: unknown ${unknown.join(", ")}; expected some of ${allowed.join(", ")}`);
  return allowed.filter((a) => picked.includes(a));
}

/**
 * Runs one child to completion or to its deadline and gathers its step
 * reports. Whatever happens, resolves with what it learned.
 */
function runChild(engine, storage, dir, mode) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", path.join(BENCH_DIR, "engine.mjs"), engine, storage, dir, mode],
      { cwd: BENCH_DIR, env: { ...process.env, BENCH_N: String(N) }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const steps = {};
    let stdoutRest = "";
    let stderrTail = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      const lines = (stdoutRest + chunk).split("\n");
      stdoutRest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith(MARK)) continue;
        const { step, ...fields } = JSON.parse(line.slice(MARK.length));
        steps[step] = fields;
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CHILD_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let error;
      if (timedOut) error = `child killed at its ${CHILD_TIMEOUT_MS / 1000} s deadline`;
      else if (code !== 0) error = `child exited with ${signal ?? `code ${code}`}: ${lastMeaningfulLine(stderrTail)}`;
      resolve({ steps, error, stderrTail: error ? stderrTail : undefined });
    });
  });
}

function lastMeaningfulLine(text) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => /FATAL|Error/.test(l));
  return (fatal ?? lines.at(-1) ?? "no output").slice(0, 200);
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
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

async function main() {
  const engines = listFromEnv("BENCH_ENGINES", ENGINE_NAMES);
  const storages = listFromEnv("BENCH_STORAGES", ["file", "memory"]);
  const runDir = path.join(DATA_DIR, `run-${process.pid}`);
  const started = performance.now();
  const results = {};
  console.log(`bench: ${N.toLocaleString("en-US")} docs; engines ${engines.join(", ")}; storages ${storages.join(", ")}`);
  try {
    for (const storage of storages) {
      for (const engine of engines) {
        const dir = path.join(runDir, `${engine}-${storage}`);
        await mkdir(dir, { recursive: true });
        const phases = ["main", ...(storage === "file" ? ["reopen"] : [])];
        results[engine] ??= {};
        results[engine][storage] = {};
        for (const phase of phases) {
          const t0 = performance.now();
          const outcome = await runChild(engine, storage, dir, phase);
          results[engine][storage][phase] = outcome;
          console.log(`  ${engine}/${storage}/${phase}: ${seconds(performance.now() - t0)}${outcome.error ? ` (${outcome.error})` : ""}`);
        }
      }
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
  const durationMs = performance.now() - started;
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
  console.log(`total bench time: ${seconds(durationMs)} (node ${process.version})`);
  await mkdir(DATA_DIR, { recursive: true });
  const json = { n: N, node: process.version, date: new Date().toISOString(), durationMs, engines, storages, rows: table.rows, results };
  await writeFile(path.join(DATA_DIR, "last.json"), JSON.stringify(json, null, 2) + "\n");
  console.log(`results: ${path.relative(process.cwd(), path.join(DATA_DIR, "last.json"))}`);
}

await main();
