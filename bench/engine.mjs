// Child process: benchmarks ONE engine on ONE storage, so peak RSS belongs to
// that engine alone and a crash or hang of one engine cannot take the others
// down. Usage:
//   node --expose-gc bench/engine.mjs <engine> <file|memory> <dir> <main|reopen>
// Every finished step is printed at once as a line `@@bench {json}`, so a
// child killed at its deadline still reports the steps it completed.
import { performance } from "node:perf_hooks";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { loadEngine } from "./engines.mjs";
import { errorText, report, stepDeadline, StepTimeout } from "./step.mjs";
import { checkDoc, expectedDoneCount, makeDoc, shuffledIndexes } from "./workload.mjs";

const [engineName, storage, dir, mode = "main"] = process.argv.slice(2);
const N = Number(process.env.BENCH_N ?? 10_000);
const BATCH = 100;
// Fireproof's 10,000 sequential puts take minutes here, so the general step
// deadline is generous. Its concurrent puts grow much faster than linearly
// (100 at once already take over a minute), so waiting longer there would
// only lengthen the bench without changing the verdict.
const STEP_TIMEOUT_MS = Number(process.env.BENCH_STEP_TIMEOUT_MS ?? 420_000);
const CONCURRENT_TIMEOUT_MS = Number(process.env.BENCH_CONCURRENT_TIMEOUT_MS ?? 120_000);

function collectGarbage() {
  globalThis.gc?.();
}

function finish() {
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
  // Engines may keep timers or handles alive after close; the report is out.
  process.exit(0);
}

/** A step's deadline whose message says how many of the N docs were done. */
function deadlineFor(step, timeoutMs, progress) {
  return stepDeadline(timeoutMs, () => {
    const done = progress ? `; ${progress().toLocaleString("en-US")} of ${N.toLocaleString("en-US")} docs done` : "";
    return `${step} did not finish within ${timeoutMs / 1000} s${done}`;
  });
}

/**
 * Times `fn`, reports `{ ms, ...extra(ms, result) }` or `{ error }`. A step
 * that passes its deadline ends the child: the engine is still busy with it
 * in the background, so any later number would be polluted.
 * @param {{ timeoutMs?: number, progress?: () => number }} [limits]
 */
async function timed(step, fn, extra = () => ({}), limits = {}) {
  collectGarbage();
  const start = performance.now();
  const deadline = deadlineFor(step, limits.timeoutMs ?? STEP_TIMEOUT_MS, limits.progress);
  try {
    const result = await Promise.race([fn(), deadline.promise]);
    const ms = performance.now() - start;
    report(step, { ms, ...extra(ms, result) });
    return true;
  } catch (err) {
    report(step, { error: errorText(err), ms: performance.now() - start });
    if (err instanceof StepTimeout) finish();
    return false;
  } finally {
    deadline.cancel();
  }
}

const perSecond = (count) => (ms) => ({ perSec: (count * 1000) / ms });

async function dirBytes(p) {
  let total = 0;
  for (const entry of await readdir(p, { withFileTypes: true })) {
    const full = path.join(p, entry.name);
    if (entry.isDirectory()) total += await dirBytes(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

async function writeLedger(engine, name, write) {
  const db = await engine.open(name);
  await write(db);
  return db;
}

async function runMain(engine) {
  let seq;
  let written = 0;
  // 1. sequential awaited puts, into the ledger that steps 4-7 read.
  await timed("seqPuts", async () => {
    seq = await writeLedger(engine, "seq", async (db) => {
      for (; written < N; written++) await db.put(makeDoc(written));
    });
  }, perSecond(N), { progress: () => written });

  if (seq) {
    const order = shuffledIndexes(N);
    await timed("getById", async () => {
      for (const i of order) checkDoc(await seq.get(makeDoc(i)._id), i);
    }, perSecond(N));
    await timed("allDocs", async () => {
      const docs = await seq.allDocs();
      if (docs.length !== N) throw new Error(`allDocs returned ${docs.length} docs, expected ${N}`);
    });
    const checkQuery = (count) => {
      if (count !== expectedDoneCount(N)) throw new Error(`query returned ${count} rows, expected ${expectedDoneCount(N)}`);
    };
    await timed("queryBuild", async () => checkQuery(await seq.queryDone()));
    await timed("queryWarm", async () => checkQuery(await seq.queryDone()));
    await timed("closeSeq", () => seq.close());
    await reportBytes(engine, "seq");
  }

  // 3. bulk writes of BATCH docs, awaited one after the other.
  await timed("bulkPuts", async () => {
    const db = await writeLedger(engine, "bulk", async (db) => {
      for (let i = 0; i < N; i += BATCH) {
        await db.bulk(Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => makeDoc(i + k)));
      }
    });
    await db.close();
  }, perSecond(N));
  await reportBytes(engine, "bulk");

  report("maxRSSBeforeConcurrent", { bytes: process.resourceUsage().maxRSS * 1024 });

  // 2. N puts issued at once. Last on purpose: Fireproof's cost here grows
  // faster than linearly (it may not finish, or exhaust the heap), and
  // nothing measured after it should depend on its outcome.
  let acknowledged = 0;
  await timed("concurrentPuts", async () => {
    const db = await writeLedger(engine, "concurrent", (db) =>
      Promise.all(Array.from({ length: N }, (_, i) => db.put(makeDoc(i)).then(() => acknowledged++))),
    );
    await db.close();
  }, perSecond(N), { timeoutMs: CONCURRENT_TIMEOUT_MS, progress: () => acknowledged });
}

async function reportBytes(engine, name) {
  if (storage !== "file") return;
  try {
    report(`bytes_${name}`, { bytes: await dirBytes(engine.dataDir(name)) });
  } catch (err) {
    report(`bytes_${name}`, { error: errorText(err) });
  }
}

/** 7. A fresh process opens the ledger written by sequential puts and reads it all. */
async function runReopen(engine) {
  // Timed: open + read all (what a restarting app waits for). Checking the
  // documents and closing come after the clock stops.
  await timed("reopen", async () => {
    const start = performance.now();
    const db = await engine.open("seq");
    const docs = await db.allDocs();
    const ms = performance.now() - start;
    if (docs.length !== N) throw new Error(`reopened ledger has ${docs.length} docs, expected ${N}`);
    docs.sort((a, b) => a.n - b.n).forEach((doc, i) => checkDoc(doc, i));
    await db.close();
    return ms;
  }, (_, openAndReadMs) => ({ ms: openAndReadMs }));
}

async function main() {
  // Some engines reject from background work; count that as this run's error
  // rather than letting Node kill the child without a report.
  process.on("unhandledRejection", (err) => report("unhandled", { error: errorText(err) }));
  try {
    const engine = await loadEngine(engineName, storage, dir);
    report("notes", { notes: engine.notes });
    if (mode === "reopen") await runReopen(engine);
    else await runMain(engine);
  } catch (err) {
    report("load", { error: errorText(err) });
  }
  finish();
}

await main();
