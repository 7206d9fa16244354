// Child process of the scale bench (bench/scale.mjs): ONE engine, ONE phase,
// on file storage, so the peak RSS it reports belongs to that engine and that
// phase alone. Usage:
//   node --expose-gc bench/scale-engine.mjs <hearth|pouchdb> <dir> <phase>
// Phases:
//   main    bulk load in batches of 1,000, random gets right after, warm gets
//           (a sample read twice, the second pass timed), allDocs, the
//           done=true index build, close
//   rss     the same bulk load and nothing else (its peak RSS is the row)
//   oneGet  fresh process: open + one get
//   gets    fresh process: open, then random gets
//   allDocs fresh process: open + allDocs
//   query   fresh process on the rss phase's ledger: open + the done=true index build
//   random  the bulk load with random-looking ids (16 hex characters, as apps
//           using UUIDs have) instead of sequential ones, then close
//   session fresh process on the main ledger: 100 documents edited at random
//           (read, written back), then close (the close is the row)
// Every finished step is printed at once as `@@bench {json}` (bench/step.mjs);
// a step that passes its deadline ends the child and the steps after it are
// reported as not run, so the parent's table says why each cell is empty.
import { performance } from "node:perf_hooks";
import { loadEngine } from "./engines.mjs";
import { errorText, report, stepDeadline, StepTimeout } from "./step.mjs";
import { checkDoc, expectedDoneCount, makeDoc, randomDocId, sampleIndexes } from "./workload.mjs";

const [engineName, dir, phase] = process.argv.slice(2);
const N = Number(process.env.BENCH_SCALE_N ?? 1_000_000);
const BATCH = 1_000;
const GETS_AFTER_LOAD = Math.min(Number(process.env.BENCH_SCALE_GETS_AFTER_LOAD ?? 20_000), N);
const FRESH_GETS = Math.min(Number(process.env.BENCH_SCALE_FRESH_GETS ?? 100_000), N);
const WARM_GETS = Math.min(Number(process.env.BENCH_SCALE_WARM_GETS ?? 2_000), N);
/** Documents the session phase edits before it closes. */
const SESSION_EDITS = Math.min(100, N);
const STEP_TIMEOUT_MS = Number(process.env.BENCH_SCALE_STEP_TIMEOUT_MS ?? 600_000);
/** The ledger every phase of one engine × N works on (the rss phase gets a directory of its own). */
const LEDGER = "scale";

/** Steps each phase reports, in order: the ones a timeout skips are reported as not run. */
const PHASE_STEPS = {
  main: ["load", "loadRSS", "getAfterLoad", "warmGets", "allDocs", "queryBuild", "close"],
  rss: ["load", "loadRSS", "close"],
  oneGet: ["openOneGet", "rss"],
  gets: ["open", "freshGets", "rss"],
  allDocs: ["openAllDocs", "rss"],
  query: ["openQuery", "rss"],
  random: ["randomLoad", "randomRSS", "randomClose"],
  session: ["sessionOpen", "sessionEdits", "sessionClose"],
};

const reported = new Set();

function emit(step, fields) {
  reported.add(step);
  report(step, fields);
}

/** The process's peak RSS so far: the OS high-water mark, so what later steps allocate cannot change it. */
function peakRss() {
  return process.resourceUsage().maxRSS * 1024;
}

/** Reports the peak RSS of a measured step as `name`, or why there is none. */
function emitPeakRss(name, measured, bytes = peakRss()) {
  if (measured) emit(name, { bytes });
  else emit(name, { error: "not measured: the step it belongs to failed" });
}

function finish() {
  emit("maxRSS", { bytes: peakRss() });
  // Engines may keep timers or handles alive after close; the report is out.
  process.exit(0);
}

function finishAfterTimeout(step) {
  for (const later of PHASE_STEPS[phase] ?? []) {
    if (!reported.has(later)) emit(later, { error: `not run: ${step} passed its deadline and ended the child` });
  }
  finish();
}

/** What `timed` returns for a step that failed (it has reported why). */
const FAILED = Symbol("failed");

/**
 * Times `fn` and reports `{ ms, ...extra(ms, result) }` or `{ error }`;
 * returns fn's result or FAILED. A step that passes its deadline ends the
 * child: the engine is still busy with it, so any later number would be
 * polluted. Any other failure costs only that step.
 * @param {string} step
 * @param {() => Promise<unknown>} fn
 * @param {(ms: number, result: unknown) => Record<string, unknown>} [extra]
 * @param {() => number} [progress] how many docs are done, for the timeout message
 */
async function timed(step, fn, extra = () => ({}), progress) {
  globalThis.gc?.();
  const start = performance.now();
  const deadline = stepDeadline(STEP_TIMEOUT_MS, () => {
    const done = progress ? `; ${progress().toLocaleString("en-US")} of ${N.toLocaleString("en-US")} docs done` : "";
    return `${step} did not finish within ${STEP_TIMEOUT_MS / 1000} s${done}`;
  });
  try {
    const result = await Promise.race([fn(), deadline.promise]);
    emit(step, { ms: performance.now() - start, ...extra(performance.now() - start, result) });
    return result;
  } catch (err) {
    emit(step, { error: errorText(err), ms: performance.now() - start });
    if (err instanceof StepTimeout) finishAfterTimeout(step);
    return FAILED;
  } finally {
    deadline.cancel();
  }
}

const perSecond = (count) => (ms) => ({ perSec: (count * 1000) / ms, count });

/** Bulk load in batches of BATCH, each awaited; reports the rate and the peak RSS the moment it ends. */
async function load(engine) {
  const db = await engine.open(LEDGER);
  let written = 0;
  const loaded = await timed("load", async () => {
    for (; written < N; written += BATCH) {
      await db.bulk(Array.from({ length: Math.min(BATCH, N - written) }, (_, k) => makeDoc(written + k)));
    }
  }, perSecond(N), () => written);
  emitPeakRss("loadRSS", loaded !== FAILED);
  return db;
}

async function runMain(engine) {
  const db = await load(engine);
  const order = sampleIndexes(N, GETS_AFTER_LOAD, 0x5eed);
  await timed("getAfterLoad", async () => {
    for (const i of order) checkDoc(await db.get(makeDoc(i)._id), i);
  }, perSecond(order.length));
  // Warm: a sample of documents read once untimed, then again, timed: a working set that fits
  // Hearth's default cache (64 MiB). A leaf of a million-document ledger is charged ~10.7 KB
  // there, so 2,000 random documents take ~21 MB; 5,000 (~55 MB, with the rest of the cache
  // in use after a load) did not stay cached.
  const warm = sampleIndexes(N, WARM_GETS, 0x3a3a);
  for (const i of warm) checkDoc(await db.get(makeDoc(i)._id), i);
  await timed("warmGets", async () => {
    for (const i of warm) checkDoc(await db.get(makeDoc(i)._id), i);
  }, perSecond(warm.length));
  await timed("allDocs", async () => {
    const count = (await db.allDocs()).length;
    if (count !== N) throw new Error(`allDocs returned ${count} docs, expected ${N}`);
  });
  await timed("queryBuild", async () => {
    const count = await db.queryDone();
    if (count !== expectedDoneCount(N)) throw new Error(`query returned ${count} rows, expected ${expectedDoneCount(N)}`);
  });
  await timed("close", () => db.close());
}

async function runRss(engine) {
  const db = await load(engine);
  await timed("close", () => db.close());
}

/**
 * The same documents under random-looking ids: every batch lands all over
 * the key space, where sequential ids append. Checks a sample afterwards.
 */
async function runRandom(engine) {
  const db = await engine.open(LEDGER);
  let written = 0;
  const loaded = await timed("randomLoad", async () => {
    for (; written < N; written += BATCH) {
      await db.bulk(Array.from({ length: Math.min(BATCH, N - written) }, (_, k) => ({ ...makeDoc(written + k), _id: randomDocId(written + k) })));
    }
  }, perSecond(N), () => written);
  emitPeakRss("randomRSS", loaded !== FAILED);
  for (const i of sampleIndexes(N, Math.min(N, 100), 0x7a)) {
    const doc = await db.get(randomDocId(i));
    if (doc?.n !== i) throw new Error(`read back wrong document for ${randomDocId(i)}: ${JSON.stringify(doc)?.slice(0, 200)}`);
  }
  await timed("randomClose", () => db.close());
}

/**
 * Fresh process on the main ledger: a short session of an app, which edits
 * SESSION_EDITS documents at random (each read, changed, written) and
 * closes. The close is the row: what quitting the app waits for.
 */
async function runSession(engine) {
  const db = await timed("sessionOpen", () => engine.open(LEDGER));
  if (db === FAILED) throw new Error("open failed");
  await timed("sessionEdits", async () => {
    for (const i of sampleIndexes(N, SESSION_EDITS, 0x5e55)) {
      const doc = await db.get(makeDoc(i)._id);
      checkDoc(doc, i);
      await db.put({ ...makeDoc(i), ...(doc._rev && { _rev: doc._rev }) });
    }
  }, perSecond(SESSION_EDITS));
  await timed("sessionClose", () => db.close());
}

/** Fresh process: what an app waits for before it can show one document. */
async function runOneGet(engine) {
  const [i] = sampleIndexes(N, 1, 0x0e);
  const db = await timed("openOneGet", async () => {
    const opened = await engine.open(LEDGER);
    checkDoc(await opened.get(makeDoc(i)._id), i);
    return opened;
  });
  emitPeakRss("rss", db !== FAILED);
  if (db !== FAILED) await db.close();
}

/** Fresh process: random reads on a cold handle (the OS page cache is whatever the earlier phases left). */
async function runGets(engine) {
  const order = sampleIndexes(N, FRESH_GETS, 0x9e7);
  const db = await timed("open", () => engine.open(LEDGER));
  if (db === FAILED) throw new Error("open failed");
  const read = await timed("freshGets", async () => {
    for (const i of order) checkDoc(await db.get(makeDoc(i)._id), i);
  }, perSecond(order.length));
  emitPeakRss("rss", read !== FAILED);
  await db.close();
}

/**
 * Fresh process: open + read everything. The clock and the peak RSS are read
 * when allDocs returns; the docs are checked after that (a wrong answer fails
 * the step, but checking costs neither time nor memory in the row).
 */
async function runAllDocs(engine) {
  let rss;
  const read = await timed("openAllDocs", async () => {
    const start = performance.now();
    const db = await engine.open(LEDGER);
    const docs = await db.allDocs();
    const ms = performance.now() - start;
    rss = peakRss();
    if (docs.length !== N) throw new Error(`reopened ledger has ${docs.length} docs, expected ${N}`);
    docs.sort((a, b) => a.n - b.n).forEach((doc, i) => checkDoc(doc, i));
    await db.close();
    return ms;
  }, (_, openAndReadMs) => ({ ms: openAndReadMs }));
  emitPeakRss("rss", read !== FAILED, rss);
}

/**
 * Fresh process on the rss phase's ledger (no index built yet): open and
 * build the field index, for the peak memory of a build (the main phase's
 * peak is the load's).
 */
async function runQuery(engine) {
  const db = await timed("openQuery", async () => {
    const opened = await engine.open(LEDGER);
    const count = await opened.queryDone();
    if (count !== expectedDoneCount(N)) throw new Error(`query returned ${count} rows, expected ${expectedDoneCount(N)}`);
    return opened;
  });
  emitPeakRss("rss", db !== FAILED);
  if (db !== FAILED) await db.close();
}

const PHASES = { main: runMain, rss: runRss, oneGet: runOneGet, gets: runGets, allDocs: runAllDocs, query: runQuery, random: runRandom, session: runSession };

async function main() {
  // Some engines reject from background work; count that as this run's error
  // rather than letting Node kill the child without a report.
  process.on("unhandledRejection", (err) => emit("unhandled", { error: errorText(err) }));
  try {
    const run = PHASES[phase];
    if (!run) throw new TypeError(`unknown phase ${phase}; expected one of ${Object.keys(PHASES).join(", ")}`);
    const engine = await loadEngine(engineName, "file", dir);
    emit("notes", { notes: engine.notes });
    await run(engine);
  } catch (err) {
    // A failed step has reported itself; anything else (open, a check after
    // the clock) is the phase's error. Steps after it did not run.
    emit("phase", { error: errorText(err) });
    for (const later of PHASE_STEPS[phase] ?? []) {
      if (!reported.has(later)) emit(later, { error: `not run: ${errorText(err)}` });
    }
  }
  finish();
}

await main();
