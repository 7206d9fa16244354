// One client worker of the load test: a child process (forked by
// load.mjs, IPC with structured clone) hosting a share of the clients.
// Every client is its own Hearth ledger with its own memory store and its
// own keyring (a separate device), attached over HTTP to the sync server.
// The parent drives the phases (open, attach, invite, synced, write,
// verify, stats, close), one message each; every answer carries the
// request's `seq`, and a failure comes back as `{ error }` instead of a crash.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { clearTimeout, setTimeout } from "node:timers";
import { errorText } from "./step.mjs";

const { open } = await import("@hearth/core");

// Client-observed request times by kind (until the response headers), next
// to the server's own timing in its log: the difference is the loopback
// and this process's event loop. The HTTP remote calls the global fetch at
// each request, so wrapping it here sees every request of every client.
const requestMs = new Map();
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const started = performance.now();
  const response = await realFetch(input, init);
  const url = typeof input === "string" ? input : input.url;
  const object = /\/objects\/([a-z]+)\//.exec(url);
  const kind = `${init?.method ?? "GET"} ${object ? object[1] : url.includes("/list") ? "list" : url.includes("/batch") ? "batch" : "other"}${response.ok ? "" : ` ${response.status}`}`;
  let list = requestMs.get(kind);
  if (!list) requestMs.set(kind, (list = []));
  list.push(performance.now() - started);
  return response;
};

/** Wall-clock milliseconds with sub-millisecond resolution (all processes share the machine's clock). */
const wallNow = () => performance.timeOrigin + performance.now();

/**
 * @typedef {{ index: number, ledger: string, rank: number, db?: any, attachment?: any,
 *   seq: number, acked: string[], writeErrors: string[], inFlight: Set<Promise<void>>,
 *   seen: Set<string>, timer?: ReturnType<typeof setTimeout> }} Client
 */

/** @type {Map<number, Client>} */
const clients = new Map();
const run = `load-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

// Write-to-visible samples: latency (ms) and when the reader saw it (ms after the write phase's start).
let latencies = new Float64Array(1 << 16);
let seenAt = new Float64Array(1 << 16);
let samples = 0;
let deliveriesBeforeStart = 0;
let writeStart = 0;
/** Per write: put() until it resolved (local commit), and until the writer's push of it was done (announcement stored). */
const putMs = [];
const pushedMs = [];
/** How late each write fired against its schedule (ms): the worker's own saturation. */
const timerLag = [];
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let cpuAtStart;
let cpuAtStop;
let writeStopAt = 0;

function record(latency, at) {
  if (samples === latencies.length) {
    const grow = (a) => {
      const b = new Float64Array(a.length * 2);
      b.set(a);
      return b;
    };
    latencies = grow(latencies);
    seenAt = grow(seenAt);
  }
  latencies[samples] = latency;
  seenAt[samples] = at;
  samples++;
}

/** How far this process's sub-millisecond wall clock runs ahead of Date.now(): the bound on cross-process clock disagreement. */
function clockOffset() {
  let min = Infinity;
  for (let i = 0; i < 2000; i++) {
    const d = Date.now();
    const p = wallNow();
    min = Math.min(min, p - d);
  }
  return min;
}

const handlers = {
  /** Opens this worker's clients; answers each one's device public key. */
  async open({ clients: specs }) {
    const keys = {};
    await Promise.all(
      specs.map(async ({ index, ledger, rank }) => {
        const db = await open(`${ledger}`, { store: `memory://${run}-c${index}`, keyring: `memory://${run}-k${index}` });
        /** @type {Client} */
        const client = { index, ledger, rank, db, seq: 0, acked: [], writeErrors: [], inFlight: new Set(), seen: new Set(), unpushed: [] };
        db.subscribe((docs) => {
          const now = wallNow();
          for (const doc of docs) {
            if (doc.w === index || typeof doc.t !== "number" || client.seen.has(doc._id)) continue;
            client.seen.add(doc._id);
            if (writeStart === 0) deliveriesBeforeStart++;
            record(now - doc.t, now - writeStart);
          }
        });
        clients.set(index, client);
        keys[index] = (await db.device()).publicKey;
      }),
    );
    return { keys, clockOffsetMs: clockOffset() };
  },

  /** Attaches the given clients to `<url>/<ledger>?token=…`, a ledger's members alternating over the instances (`urls[rank mod n]`) (with their invitations, if invited). */
  async attach({ indexes, urls, tokens, invitations = {} }) {
    await Promise.all(
      indexes.map(async (index) => {
        const c = clients.get(index);
        const invitation = invitations[index];
        // Clients spread over the server instances (a ledger's members meet across instances).
        const url = urls[c.rank % urls.length];
        c.attachment = await c.db.attach(`${url}/${c.ledger}?token=${encodeURIComponent(tokens[c.ledger])}`, invitation ? { invitation } : {});
        // Nothing left to push (pending 0) after a write resolved means that write's announcement is stored at the server.
        c.attachment.on("status", (status) => {
          if (status.pending !== 0 || c.unpushed.length === 0) return;
          const now = wallNow();
          for (const t of c.unpushed) pushedMs.push(now - t);
          c.unpushed = [];
        });
      }),
    );
    return {};
  },

  /** Each inviter (an attached client) invites the listed devices, one after the other; returns their invitations by client index. */
  async invite({ invites }) {
    const invitations = {};
    await Promise.all(
      Object.entries(invites).map(async ([index, members]) => {
        const c = clients.get(Number(index));
        for (const { index: member, key } of members) invitations[member] = (await c.db.invite(key)).invitations[0];
      }),
    );
    return { invitations };
  },

  /** Every client waits for `synced()`; failures are reported per client, not thrown. */
  async synced({ timeoutMs }) {
    const failures = [];
    const started = performance.now();
    await Promise.all(
      [...clients.values()].map((c) =>
        c.attachment.synced({ timeoutMs }).catch((err) => failures.push(`client ${c.index} (${c.ledger}): ${errorText(err)}`)),
      ),
    );
    return { failures, ms: performance.now() - started };
  },

  /**
   * Writes at `rate` docs/s per client from `startAt` (wall clock) for
   * `seconds`: an open-loop schedule (a slow put does not delay the next),
   * each client starting at a random phase so writes spread evenly.
   * Answers once every put issued has settled (or `drainMs` passed).
   */
  async write({ startAt, seconds, rate, drainMs, padBytes }) {
    const interval = 1000 / rate;
    const stopAt = startAt + seconds * 1000;
    const pad = "x".repeat(padBytes);
    writeStart = startAt;
    loopDelay.enable();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
    cpuAtStart = process.cpuUsage();
    const done = [];
    for (const c of clients.values()) {
      done.push(
        new Promise((resolve) => {
          let due = startAt + Math.random() * interval;
          const tick = () => {
            const now = wallNow();
            if (now >= stopAt) return resolve();
            timerLag.push(now - due);
            const seq = ++c.seq;
            const id = `w${c.index}-${String(seq).padStart(5, "0")}`;
            const t = wallNow();
            const put = c.db.put({ _id: id, w: c.index, s: seq, t, pad }).then(
              () => {
                c.acked.push(id);
                c.unpushed.push(t);
                putMs.push(wallNow() - t);
              },
              (err) => void c.writeErrors.push(`${id}: ${errorText(err)}`),
            );
            c.inFlight.add(put);
            void put.finally(() => c.inFlight.delete(put));
            due += interval;
            c.timer = setTimeout(tick, Math.max(0, due - wallNow()));
          };
          c.timer = setTimeout(tick, Math.max(0, due - wallNow()));
        }),
      );
    }
    await Promise.all(done);
    writeStopAt = wallNow();
    const pending = [...clients.values()].flatMap((c) => [...c.inFlight]);
    let drainTimer;
    const drained = await Promise.race([
      Promise.all(pending).then(() => true),
      new Promise((resolve) => (drainTimer = setTimeout(() => resolve(false), drainMs))),
    ]);
    clearTimeout(drainTimer);
    cpuAtStop = process.cpuUsage(cpuAtStart);
    loopDelay.disable();
    const acked = {};
    const errors = [];
    let issued = 0;
    for (const c of clients.values()) {
      acked[c.index] = c.acked;
      issued += c.seq;
      errors.push(...c.writeErrors);
    }
    if (!drained) errors.push(`${pending.length} puts still pending ${drainMs} ms after the write phase`);
    return { acked, issued, errors };
  },

  /** Checks every client holds every id expected for its ledger; answers what is missing and each client's root. */
  async verify({ expected }) {
    const results = [];
    await Promise.all(
      [...clients.values()].map(async (c) => {
        const have = new Set((await c.db.allDocs()).rows.map((r) => r.key));
        const want = expected[c.ledger] ?? [];
        const missing = want.filter((id) => !have.has(id));
        results.push({ index: c.index, ledger: c.ledger, docs: have.size, missing: missing.length, missingSample: missing.slice(0, 5), root: await c.db.root(), status: c.attachment.status() });
      }),
    );
    return { results };
  },

  /** The samples and this worker's own costs. */
  async stats() {
    const lag = Float64Array.from(timerLag).sort();
    const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)] : 0);
    return {
      requestMs: Object.fromEntries([...requestMs].map(([kind, ms]) => [kind, Float64Array.from(ms)])),
      putMs: Float64Array.from(putMs),
      pushedMs: Float64Array.from(pushedMs),
      latencies: latencies.slice(0, samples),
      seenAt: seenAt.slice(0, samples),
      deliveriesBeforeStart,
      cpu: cpuAtStop ?? process.cpuUsage(cpuAtStart),
      writeMs: writeStopAt - writeStart,
      timerLag: { p50: pct(lag, 50), p99: pct(lag, 99), max: lag.length ? lag[lag.length - 1] : 0 },
      loopDelay: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
      memory: process.memoryUsage(),
      maxRssKb: process.resourceUsage().maxRSS,
    };
  },

  /** Detaches and closes every client (bounded), then the process exits. */
  async close({ timeoutMs }) {
    let timer;
    await Promise.race([
      Promise.all(
        [...clients.values()].map(async (c) => {
          clearTimeout(c.timer);
          await c.attachment?.detach({ flushTimeoutMs: 1000 }).catch(() => {});
          await c.db.close().catch(() => {});
        }),
      ),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

process.on("message", async ({ seq, op, ...args }) => {
  try {
    const handler = handlers[op];
    if (!handler) throw new TypeError(`unknown op ${op}`);
    process.send({ seq, ok: true, ...(await handler(args)) });
  } catch (err) {
    process.send({ seq, ok: false, error: errorText(err) });
  }
});
// The parent going away (killed, crashed) takes the worker with it.
process.on("disconnect", () => process.exit(1));
process.send({ ready: true });
