// The client worker processes of the load test: forks them, sends each
// phase's request, and waits for every answer with a deadline. A worker
// that dies or misses a deadline fails the phase with its name; the pool's
// `kill()` ends every worker, whatever state it is in.
import { fork } from "node:child_process";
import path from "node:path";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "load-worker.mjs");

/**
 * Forks `count` workers; resolves once each said it is ready.
 * @param {number} count
 * @param {{ profDir?: string, timeoutMs: number }} options
 */
export async function startPool(count, { profDir, timeoutMs }) {
  const workers = [];
  for (let id = 0; id < count; id++) {
    const child = fork(WORKER, [], {
      serialization: "advanced", // typed arrays of samples cross as-is
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [],
    });
    const pending = new Map();
    const worker = { id, child, pending, seq: 0, dead: undefined, ready: undefined };
    worker.ready = new Promise((resolve, reject) => {
      child.on("message", (msg) => {
        if (msg.ready) return resolve();
        const waiter = pending.get(msg.seq);
        if (!waiter) return;
        pending.delete(msg.seq);
        if (msg.ok) waiter.resolve(msg);
        else waiter.reject(new Error(`worker ${id}: ${msg.error}`));
      });
      child.once("exit", (code, signal) => {
        worker.dead = `worker ${id} exited with ${signal ?? `code ${code}`}`;
        reject(new Error(worker.dead));
        for (const waiter of pending.values()) waiter.reject(new Error(worker.dead));
        pending.clear();
      });
    });
    worker.ready.catch(() => {});
    workers.push(worker);
  }
  await withDeadline(Promise.all(workers.map((w) => w.ready)), timeoutMs, "client workers to start");

  /** Sends `op` to one worker; resolves its answer. */
  function ask(worker, op, args = {}) {
    if (worker.dead) return Promise.reject(new Error(worker.dead));
    const seq = ++worker.seq;
    return new Promise((resolve, reject) => {
      worker.pending.set(seq, { resolve, reject });
      worker.child.send({ seq, op, ...args });
    });
  }

  return {
    workers,
    /**
     * Sends `op` to every worker (`argsOf(worker)` gives each its arguments)
     * and resolves every answer, in worker order, within `timeoutMs`.
     */
    all(op, timeoutMs, argsOf = () => ({})) {
      return withDeadline(Promise.all(workers.map((w) => ask(w, op, argsOf(w)))), timeoutMs, `phase "${op}" on every worker`);
    },
    /** Ends every worker still running (SIGKILL). */
    kill() {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    },
    /** Resolves once every worker has exited, or after `timeoutMs`. */
    exited(timeoutMs) {
      const each = workers.map((w) =>
        w.child.exitCode !== null || w.child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => w.child.once("exit", resolve)),
      );
      return withDeadline(Promise.all(each), timeoutMs, "client workers to exit").catch(() => {});
    },
  };
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export async function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(0)} s waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
