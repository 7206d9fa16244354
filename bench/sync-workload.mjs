// The sync section's three measurements, written once against the adapter
// shape of bench/sync-engines.mjs. Every wait has a deadline: a write that
// never shows up, or a replica that stops making progress, fails the
// measurement with how far it got instead of hanging the child.
import { performance } from "node:perf_hooks";
import { clearTimeout, setTimeout } from "node:timers";
import { setTimeout as delay } from "node:timers/promises";
import { makeDoc } from "./workload.mjs";

const BATCH = 100;
/** How often the bench looks at the data of an engine that has no "in sync" signal. */
const POLL_MS = 20;

/**
 * @typedef {import("./sync-engines.mjs").SyncEngine} SyncEngine
 * @typedef {import("./sync-engines.mjs").Replica} Replica
 * @typedef {{ text: string }} Progress where a measurement is, for the step deadline's message
 * @typedef {{ visibleTimeoutMs: number, stallTimeoutMs: number }} Waits
 */

/**
 * 1. Write on A → visible on B: each write is one awaited `put` on A; the
 * clock runs from just before the put to B's change callback for that doc.
 * Writes are sequential: the next starts once the previous was seen.
 * @param {SyncEngine} engine
 * @param {number} writes
 * @param {Waits} waits
 * @param {Progress} progress
 */
export async function measureLatency(engine, writes, waits, progress) {
  progress.text = "connecting A and B";
  const { a, b } = await engine.pair();
  const waiting = new Map();
  const off = b.onDocs((ids) => {
    const now = performance.now();
    for (const id of ids) waiting.get(id)?.(now);
  });
  const samples = [];
  try {
    for (let i = 0; i < writes; i++) {
      progress.text = `${i.toLocaleString("en-US")} of ${writes.toLocaleString("en-US")} writes seen on B`;
      const doc = makeDoc(i);
      const seen = new Promise((resolve) => waiting.set(doc._id, resolve));
      const start = performance.now();
      await a.put(doc);
      const at = await within(seen, waits.visibleTimeoutMs, () =>
        `write ${i + 1} of ${writes} (${doc._id}) not seen on B within ${waits.visibleTimeoutMs / 1000} s`);
      waiting.delete(doc._id);
      samples.push(at - start);
    }
  } finally {
    off();
  }
  samples.sort((x, y) => x - y);
  return {
    n: samples.length,
    p50: percentile(samples, 0.5),
    p99: percentile(samples, 0.99),
    max: samples.at(-1),
    mean: samples.reduce((s, x) => s + x, 0) / samples.length,
  };
}

/**
 * 2. Late joiner: A writes `docs` documents in bulks of 100 while
 * connected, finishes and closes; then B connects, and the clock runs until
 * B holds them all (engine's own "in sync" signal where it has one, then
 * the count checked with allDocs).
 * @param {SyncEngine} engine
 * @param {number} docs
 * @param {Waits} waits
 * @param {Progress} progress
 */
export async function measureLateJoiner(engine, docs, waits, progress) {
  progress.text = "A writing";
  const { b, join } = await engine.lateJoiner(async (a) => {
    for (let i = 0; i < docs; i += BATCH) {
      progress.text = `A wrote ${i.toLocaleString("en-US")} of ${docs.toLocaleString("en-US")} docs`;
      await a.bulk(Array.from({ length: Math.min(BATCH, docs - i) }, (_, k) => makeDoc(i + k)));
    }
  });
  progress.text = "B joining";
  const start = performance.now();
  await join();
  await engine.settle([b]);
  await holdAll(engine, [b], docs, waits, progress);
  return { ms: performance.now() - start };
}

/**
 * 3. k replicas on one sync point each issue `each` puts at once
 * (Promise.all); the clock runs until every replica holds all k × each docs
 * and all report the same root.
 * @param {SyncEngine} engine
 * @param {number} k
 * @param {number} each
 * @param {Waits} waits
 * @param {Progress} progress
 */
export async function measureReplicas(engine, k, each, waits, progress) {
  progress.text = `connecting ${k} replicas`;
  const replicas = await engine.group(k);
  let acknowledged = 0;
  progress.text = "writing";
  const start = performance.now();
  await Promise.all(
    replicas.map((r, j) =>
      Promise.all(Array.from({ length: each }, (_, i) => r.put(replicaDoc(j, i)).then(() => {
        acknowledged++;
        progress.text = `${acknowledged.toLocaleString("en-US")} of ${(k * each).toLocaleString("en-US")} puts acknowledged`;
      }))),
    ),
  );
  await holdAll(engine, replicas, k * each, waits, progress);
  return { ms: performance.now() - start };
}

/** Doc i of replica j: workload.mjs's document under an id no other replica writes. */
function replicaDoc(j, i) {
  const doc = makeDoc(i);
  return { ...doc, _id: `r${j}-${doc._id}` };
}

/**
 * Waits until every replica holds `expected` docs and (for more than one)
 * they agree on their root. Engines with an "in sync" signal are asked for
 * it before each look; the others are polled. Fails when the replicas stop
 * making progress for `stallTimeoutMs`, saying how far they got.
 * @param {SyncEngine} engine
 * @param {Replica[]} replicas
 * @param {number} expected
 * @param {Waits} waits
 * @param {Progress} progress
 */
async function holdAll(engine, replicas, expected, waits, progress) {
  let best = -1;
  let lastProgressAt = performance.now();
  let lastError;
  for (;;) {
    let counts;
    try {
      counts = await Promise.all(replicas.map((r) => r.count()));
      if (counts.every((c) => c === expected)) {
        if (replicas.length === 1) return;
        const roots = await Promise.all(replicas.map((r) => r.root()));
        if (roots.every((root) => root === roots[0])) return;
        lastError = "same doc count, different roots";
      } else if (counts.some((c) => c > expected)) {
        throw new WrongAnswer(`a replica holds ${Math.max(...counts)} docs, expected ${expected}`);
      } else if (engine.hasSynced && replicas.length === 1) {
        // The writer had finished before this replica joined; "in sync" with
        // docs missing is a wrong answer, not slowness. (Among replicas that
        // write at once, one can be in sync before another has pushed.)
        throw new WrongAnswer(`synced, but holds ${counts[0]} of ${expected} docs`);
      }
    } catch (err) {
      // A read can fail while data is still arriving (Fireproof: "missing
      // block"); keep looking until the stall deadline, then report it.
      if (err instanceof WrongAnswer) throw err;
      lastError = err instanceof Error ? err.message : String(err);
    }
    const total = counts ? counts.reduce((s, c) => s + c, 0) : best;
    progress.text = `holding ${counts ? counts.join(", ") : "?"} of ${expected} docs`;
    if (total > best) {
      best = total;
      lastProgressAt = performance.now();
    } else if (performance.now() - lastProgressAt > waits.stallTimeoutMs) {
      throw new Error(
        `no progress for ${waits.stallTimeoutMs / 1000} s: ${progress.text}${lastError ? `; last: ${lastError.slice(0, 160)}` : ""}`,
      );
    }
    if (engine.hasSynced) await engine.settle(replicas);
    else await delay(POLL_MS);
  }
}

/** The data is wrong (not late): waiting longer would not help. */
class WrongAnswer extends Error {}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** `promise`, or an Error with `message()` after `ms`. */
function within(promise, ms, message) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
