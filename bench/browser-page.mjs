// The page side of `npm run bench:browser` (bench/browser.mjs): runs in
// headless Chromium, bundled with ONE engine adapter (browser-hearth.mjs,
// browser-dexie.mjs or browser-pouchdb.mjs), and does the phase its URL
// names on that origin's IndexedDB. Each finished step is reported to Node
// through the exposed `__benchStep(name, fields)`; `__benchDone()` ends the
// phase. A failed step reports `{ error }` and ends the phase.
//
// Phases (`?phase=…&n=…&gets=…`):
//   load    open a new database, bulk load n docs in batches of 1,000, close
//   reopen  (a new page load) open + read every doc, timed from navigation
//           start; then the done === true query (first run: the index
//           build), then random gets by id, then close
//   size    (a new page load, nothing open) navigator.storage.estimate()
import { checkDoc, expectedDoneCount, makeDoc, sampleIndexes } from "./workload.mjs";

const BATCH = 1_000;

/**
 * Runs the phase named in the page's URL with `engine`.
 * @param {{ name: string, open(): Promise<object> }} engine
 */
export async function runPage(engine) {
  const params = new URL(location.href).searchParams;
  const phase = params.get("phase");
  const n = Number(params.get("n"));
  const gets = Math.min(Number(params.get("gets")), n);
  const step = async (name, run) => {
    try {
      const fields = await run();
      await globalThis.__benchStep(name, fields);
    } catch (err) {
      await globalThis.__benchStep(name, { error: String(err?.stack ?? err).slice(0, 2000) });
      throw err;
    }
  };
  try {
    if (phase === "load") await loadPhase(engine, n, step);
    else if (phase === "reopen") await reopenPhase(engine, n, gets, step);
    else if (phase === "size") await step("bytes", sizeNow);
    else throw new Error(`unknown phase ${phase}`);
  } catch {
    // Reported by the step that failed.
  } finally {
    await globalThis.__benchDone();
  }
}

async function loadPhase(engine, n, step) {
  let db;
  await step("openEmpty", async () => {
    const t0 = performance.now();
    db = await engine.open();
    return { ms: performance.now() - t0 };
  });
  await step("load", async () => {
    const t0 = performance.now();
    for (let written = 0; written < n; written += BATCH) {
      await db.bulk(Array.from({ length: Math.min(BATCH, n - written) }, (_, k) => makeDoc(written + k)));
    }
    const ms = performance.now() - t0;
    return { ms, perSec: (n / ms) * 1000 };
  });
  await step("closeAfterLoad", async () => {
    const t0 = performance.now();
    await db.close();
    return { ms: performance.now() - t0 };
  });
}

async function reopenPhase(engine, n, gets, step) {
  let db;
  await step("reopenReadAll", async () => {
    const t0 = performance.now();
    db = await engine.open();
    const t1 = performance.now();
    const docs = await db.readAll();
    // performance.now() counts from this page's navigation start: the row is
    // reload + script load + open + reading every document.
    const ms = performance.now();
    if (docs.length !== n) throw new Error(`read ${docs.length} docs, expected ${n}`);
    docs.forEach((doc, i) => checkDoc(doc, i));
    return { ms, scriptMs: t0, openMs: t1 - t0, readMs: ms - t1 };
  });
  await step("queryBuild", async () => {
    const t0 = performance.now();
    const rows = await db.queryDone();
    const ms = performance.now() - t0;
    if (rows !== expectedDoneCount(n)) throw new Error(`query done === true returned ${rows} rows, expected ${expectedDoneCount(n)}`);
    return { ms, rows };
  });
  await step("getById", async () => {
    const order = sampleIndexes(n, gets);
    const ids = order.map((i) => makeDoc(i)._id);
    const t0 = performance.now();
    for (let k = 0; k < ids.length; k++) checkDoc(await db.get(ids[k]), order[k]);
    const ms = performance.now() - t0;
    return { ms, gets, perSec: (gets / ms) * 1000 };
  });
  await step("close", async () => {
    const t0 = performance.now();
    await db.close();
    return { ms: performance.now() - t0 };
  });
}

/** What this origin stores: its IndexedDB usage if the browser itemizes it, else the whole usage. */
async function sizeNow() {
  const estimate = await navigator.storage.estimate();
  const indexedDB = estimate.usageDetails?.indexedDB;
  return { bytes: indexedDB ?? estimate.usage, usage: estimate.usage, usageDetails: estimate.usageDetails ?? null };
}
