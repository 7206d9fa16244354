// Child process of the sync section: ONE measurement of ONE engine on ONE
// kind of remote, so a hang, crash or runaway heap costs one cell. Usage:
//   node --expose-gc bench/sync-engine.mjs <engine> <memory|file> <dir> <latency|lateJoin|replicas>
// Settings come from the environment (bench/sync.mjs passes them on).
import { performance } from "node:perf_hooks";
import { clearTimeout, setTimeout } from "node:timers";
import { loadSyncEngine } from "./sync-engines.mjs";
import { measureLateJoiner, measureLatency, measureReplicas } from "./sync-workload.mjs";
import { errorText, report, stepDeadline, StepTimeout } from "./step.mjs";

const [engineName, remote, dir, measurement] = process.argv.slice(2);
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const WRITES = env("BENCH_SYNC_WRITES", 1_000);
const DOCS = env("BENCH_SYNC_DOCS", 10_000);
const REPLICAS = env("BENCH_SYNC_REPLICAS", 5);
const EACH = env("BENCH_SYNC_EACH", 1_000);
const WAITS = {
  visibleTimeoutMs: env("BENCH_SYNC_VISIBLE_TIMEOUT_MS", 10_000),
  stallTimeoutMs: env("BENCH_SYNC_STALL_TIMEOUT_MS", 20_000),
};
// Fireproof's concurrent puts grow much faster than linearly (see the core
// section), so the replicas step gets the core section's concurrent deadline.
const STEP_TIMEOUT_MS = measurement === "replicas"
  ? env("BENCH_SYNC_REPLICAS_TIMEOUT_MS", 120_000)
  : env("BENCH_SYNC_STEP_TIMEOUT_MS", 300_000);
const CLOSE_TIMEOUT_MS = 10_000;

const MEASUREMENTS = {
  latency: (engine, progress) => measureLatency(engine, WRITES, WAITS, progress),
  lateJoin: (engine, progress) => measureLateJoiner(engine, DOCS, WAITS, progress),
  replicas: (engine, progress) => measureReplicas(engine, REPLICAS, EACH, WAITS, progress),
};

function finish() {
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
  // Engines may keep timers, watchers or live feeds alive after close.
  process.exit(0);
}

/** What the engine itself logged, appended to an error so the cell's footnote says it. */
function withLogged(text, engine) {
  const logged = engine?.logged() ?? [];
  return logged.length ? `${text}; engine logged: ${logged.join(" | ")}`.slice(0, 600) : text;
}

async function main() {
  const run = MEASUREMENTS[measurement];
  if (!run) throw new TypeError(`unknown measurement ${measurement}; expected one of ${Object.keys(MEASUREMENTS).join(", ")}`);
  // Some engines reject from background work; count it as this run's error
  // rather than letting Node end the child without a report.
  process.on("unhandledRejection", (err) => report("unhandled", { error: errorText(err) }));
  let engine;
  const progress = { text: "loading" };
  const deadline = stepDeadline(STEP_TIMEOUT_MS, () => `${measurement} did not finish within ${STEP_TIMEOUT_MS / 1000} s (${progress.text})`);
  const start = performance.now();
  try {
    engine = await Promise.race([loadSyncEngine(engineName, remote, dir, { settleTimeoutMs: WAITS.stallTimeoutMs }), deadline.promise]);
    report("notes", { notes: engine.notes });
    const fields = await Promise.race([run(engine, progress), deadline.promise]);
    report(measurement, fields);
  } catch (err) {
    report(measurement, { error: withLogged(errorText(err), engine), ms: performance.now() - start });
    // Past its deadline the engine is still busy; closing it could hang too.
    if (err instanceof StepTimeout) finish();
  } finally {
    deadline.cancel();
  }
  if (engine) {
    let timer;
    const closeDeadline = new Promise((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([engine.close().catch(() => {}), closeDeadline]);
    clearTimeout(timer);
  }
  finish();
}

await main();
