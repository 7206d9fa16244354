// The sync server load test (`npm run load`): a real `hearth serve` child
// on 127.0.0.1, LOAD_CLIENTS clients (each a Hearth ledger with its own
// memory store and keyring: a separate device) over LOAD_LEDGERS ledgers,
// spread over LOAD_WORKERS client processes, each client writing
// LOAD_RATE docs/s for LOAD_SECONDS. Measures write→visible latency over
// every (writer, reader) pair of a ledger, throughput, server RSS and CPU;
// then checks that every acknowledged write is on every client of its
// ledger and that they agree on the root. LOAD_RATE may list several rates
// (`LOAD_RATE=0.5,1,2`): one fresh run each. See bench/README.md.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import { startS3Pg } from "./load-s3pg.mjs";
import { createTokens, machineCpu, procCpuMs, procMemory, sampleMemory, startServer, summarizeLog } from "./load-server.mjs";
import { startPool } from "./load-pool.mjs";
import { concat, perSecond, round, summarize } from "./load-stats.mjs";
import { printProfile, summarizeProfile } from "./load-profile.mjs";
import { printReport } from "./load-table.mjs";
import { errorText } from "./step.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

function numberFromEnv(name, fallback, { min = 0, integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new TypeError(`${name} must be ${integer ? "an integer" : "a number"} ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function readConfig() {
  const rates = (process.env.LOAD_RATE || "0.1").split(",").map((s) => Number(s.trim()));
  if (!rates.every((r) => r > 0 && Number.isFinite(r))) throw new TypeError(`LOAD_RATE must be positive numbers (writes/s per client), comma-separated; got ${process.env.LOAD_RATE}`);
  const config = {
    clients: numberFromEnv("LOAD_CLIENTS", 200, { min: 2, integer: true }),
    ledgers: numberFromEnv("LOAD_LEDGERS", 20, { min: 1, integer: true }),
    seconds: numberFromEnv("LOAD_SECONDS", 30, { min: 0.1 }),
    workers: numberFromEnv("LOAD_WORKERS", 4, { min: 1, integer: true }),
    padBytes: numberFromEnv("LOAD_DOC_PAD", 64, { integer: true }),
    setupTimeoutMs: numberFromEnv("LOAD_SETUP_TIMEOUT_MS", 120_000, { min: 1 }),
    settleTimeoutMs: numberFromEnv("LOAD_SETTLE_TIMEOUT_MS", 60_000, { min: 1 }),
    drainTimeoutMs: numberFromEnv("LOAD_DRAIN_TIMEOUT_MS", 30_000, { min: 1 }),
    profile: process.env.LOAD_PROFILE === "1",
    // Diagnostic server variants (bench/load-serve.mjs); the default is `hearth serve` itself.
    server: {
      fsync: process.env.LOAD_SERVER_FSYNC !== "0",
      log: process.env.LOAD_SERVER_LOG !== "0",
    },
    // Where the objects live: the filesystem backend (one instance), or S3 + PostgreSQL (several instances, clients spread over them).
    backend: process.env.LOAD_BACKEND || "fs",
    keep: process.env.LOAD_KEEP === "1",
    out: process.env.LOAD_OUT || path.join(BENCH_DIR, ".data", "load-last.json"),
  };
  if (config.backend !== "fs" && config.backend !== "s3pg") throw new TypeError(`LOAD_BACKEND must be fs or s3pg, got ${JSON.stringify(config.backend)}`);
  config.instances = numberFromEnv("LOAD_INSTANCES", config.backend === "s3pg" ? 2 : 1, { min: 1, integer: true });
  if (config.backend === "fs" && config.instances !== 1) throw new TypeError("LOAD_INSTANCES > 1 needs LOAD_BACKEND=s3pg: the filesystem backend's notifications stay inside one process");
  if (config.backend === "s3pg" && (!config.server.fsync || !config.server.log)) throw new TypeError("LOAD_SERVER_FSYNC/LOAD_SERVER_LOG variants run the filesystem backend only");
  if (config.clients < config.ledgers * 2) throw new TypeError(`LOAD_CLIENTS (${config.clients}) must be at least 2 × LOAD_LEDGERS (${config.ledgers}): a ledger needs a writer and a reader`);
  return { config, rates };
}

/** Everything started, so an exit for any reason ends it. */
const live = { pools: new Set(), servers: new Set(), storages: new Set() };
function killEverything() {
  for (const pool of live.pools) pool.kill();
  for (const server of live.servers) server.kill();
}
process.on("exit", killEverything);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killEverything();
    process.exit(130);
  });
}

/** Who is who: client i belongs to ledger i mod L with rank ⌊i / L⌋ (rank 0 creates the sync point); a ledger's members are spread over the workers. */
function assign({ clients, ledgers, workers }) {
  const names = Array.from({ length: ledgers }, (_, l) => `load-${String(l).padStart(3, "0")}`);
  const specs = Array.from({ length: clients }, (_, index) => {
    const l = index % ledgers;
    const rank = Math.floor(index / ledgers);
    return { index, ledger: names[l], rank, worker: (l + rank) % workers };
  });
  return { names, specs };
}

/** One complete run at one rate: fresh server, data directory and workers. */
async function runOnce(config, progress) {
  const result = { config, errors: [], phases: {} };
  const dir = mkdtempSync(path.join(tmpdir(), "hearth-load-"));
  const profDir = config.profile ? path.join(BENCH_DIR, ".data", `load-prof-rate-${config.rate}`) : undefined;
  if (profDir) {
    rmSync(profDir, { recursive: true, force: true });
    mkdirSync(profDir, { recursive: true });
  }
  let server;
  let servers = [];
  let storage;
  let pool;
  let memory;
  const phase = async (name, fn) => {
    const started = performance.now();
    progress(`${name}…`);
    try {
      return await fn();
    } finally {
      result.phases[name] = round(performance.now() - started, 0);
    }
  };
  try {
    const { names, specs } = assign(config);
    storage = config.backend === "s3pg" ? await phase("s3 + postgres", () => startS3Pg()) : { serveArgs: ["--data", path.join(dir, "data")], env: {}, describe: "filesystem", stop: async () => {} };
    live.storages.add(storage);
    result.backend = { kind: config.backend, describe: storage.describe, instances: config.instances };
    const tokens = await phase("tokens", () => createTokens(storage.serveArgs, names, { env: storage.env }));
    servers = await phase("server start", () =>
      Promise.all(
        Array.from({ length: config.instances }, (_, i) =>
          startServer({ backendArgs: storage.serveArgs, env: storage.env, logFile: path.join(dir, `server-${i}.log`), profDir, variant: config.server }),
        ),
      ),
    );
    for (const s of servers) live.servers.add(s);
    // The first instance stands for the server in RSS, profile and stderr figures; CPU is summed over all.
    server = servers[0];
    const urls = servers.map((s) => s.url);
    memory = sampleMemory(server.pid);
    pool = await phase("workers start", () => startPool(config.workers, { profDir, timeoutMs: config.setupTimeoutMs }));
    live.pools.add(pool);
    const mine = (w) => specs.filter((s) => s.worker === w.id);

    // Set-up: open every client, the creators attach, invite the others' devices, the others attach.
    const opened = await phase("open", () => pool.all("open", config.setupTimeoutMs, (w) => ({ clients: mine(w) })));
    const keys = Object.assign({}, ...opened.map((o) => o.keys));
    result.clockOffsetsMs = opened.map((o) => round(o.clockOffsetMs, 3));
    const creators = specs.filter((s) => s.rank === 0);
    await phase("attach creators", () => pool.all("attach", config.setupTimeoutMs, (w) => ({ indexes: mine(w).filter((s) => s.rank === 0).map((s) => s.index), urls, tokens })));
    const invited = await phase("invite", () =>
      pool.all("invite", config.setupTimeoutMs, (w) => ({
        invites: Object.fromEntries(
          creators
            .filter((c) => c.worker === w.id)
            .map((c) => [c.index, specs.filter((s) => s.ledger === c.ledger && s.rank > 0).map((s) => ({ index: s.index, key: keys[s.index] }))]),
        ),
      })),
    );
    const invitations = Object.assign({}, ...invited.map((i) => i.invitations));
    await phase("attach members", () =>
      pool.all("attach", config.setupTimeoutMs, (w) => ({ indexes: mine(w).filter((s) => s.rank > 0).map((s) => s.index), urls, tokens, invitations })),
    );
    const setupSynced = await phase("synced before writing", () => pool.all("synced", config.settleTimeoutMs + 10_000, () => ({ timeoutMs: config.settleTimeoutMs })));
    for (const s of setupSynced) result.errors.push(...s.failures.map((f) => `set-up synced: ${f}`));
    const rssIdleKb = procMemory(server.pid).rssKb;

    // Writing: every worker starts at the same wall-clock instant; CPU is read at the window's edges.
    const startAt = Date.now() + 1000;
    const windowMs = config.seconds * 1000;
    result.window = { from: startAt, to: startAt + windowMs };
    const edges = {};
    const snap = () => ({ at: performance.now(), server: servers.reduce((ms, s) => ms + procCpuMs(s.pid), 0), machine: machineCpu(), self: process.cpuUsage() });
    const t1 = setTimeout(() => (edges.start = snap()), startAt - Date.now());
    const t2 = setTimeout(() => (edges.end = snap()), startAt - Date.now() + windowMs);
    const written = await phase("write", () =>
      pool.all("write", windowMs + config.drainTimeoutMs + 15_000, () => ({ startAt, seconds: config.seconds, rate: config.rate, drainMs: config.drainTimeoutMs, padBytes: config.padBytes })),
    );
    clearTimeout(t1);
    clearTimeout(t2);
    edges.end ??= snap();
    const acked = {};
    let ackedTotal = 0;
    let issued = 0;
    for (const w of written) {
      issued += w.issued;
      result.errors.push(...w.errors.map((e) => `write: ${e}`));
      for (const [index, ids] of Object.entries(w.acked)) {
        const ledger = specs[Number(index)].ledger;
        (acked[ledger] ??= []).push(...ids);
        ackedTotal += ids.length;
      }
    }
    result.writes = { issued, acked: ackedTotal, perSecond: round(ackedTotal / config.seconds) };

    // Settle: one synced() round pushes every client's last writes, a second pulls them everywhere.
    const settleStarted = performance.now();
    let settleFailures = [];
    for (const round_ of [1, 2]) {
      const answers = await phase(`settle round ${round_}`, () => pool.all("synced", config.settleTimeoutMs + 10_000, () => ({ timeoutMs: config.settleTimeoutMs })));
      settleFailures = answers.flatMap((a) => a.failures);
    }
    result.settle = { ms: round(performance.now() - settleStarted, 0), failures: settleFailures.length };
    result.errors.push(...settleFailures.slice(0, 20).map((f) => `settle synced: ${f}`));

    // Verify: every acknowledged write on every client of its ledger, one root per ledger.
    const check = async () => {
      const answers = await pool.all("verify", config.settleTimeoutMs, () => ({ expected: acked }));
      const rows = answers.flatMap((a) => a.results);
      const roots = new Map();
      for (const r of rows) (roots.get(r.ledger) ?? roots.set(r.ledger, new Set()).get(r.ledger)).add(r.root);
      return {
        missing: rows.reduce((n, r) => n + r.missing, 0),
        clientsMissing: rows.filter((r) => r.missing > 0).map((r) => ({ index: r.index, ledger: r.ledger, missing: r.missing, sample: r.missingSample, status: r.status })),
        rootsDiffer: [...roots.values()].filter((s) => s.size > 1).length,
        docsPerClient: summarize(rows.map((r) => r.docs)),
      };
    };
    let verify = await phase("verify", check);
    const firstCheck = { missing: verify.missing, rootsDiffer: verify.rootsDiffer };
    let extraRounds = 0;
    const deadline = performance.now() + config.settleTimeoutMs;
    while ((verify.missing > 0 || verify.rootsDiffer > 0) && extraRounds < 10 && performance.now() < deadline) {
      // Not converged at the first check: keep syncing (bounded) to tell "late" from "lost".
      extraRounds++;
      await pool.all("synced", config.settleTimeoutMs + 10_000, () => ({ timeoutMs: Math.max(1000, deadline - performance.now()) })).catch((err) => result.errors.push(errorText(err)));
      verify = await check();
    }
    result.verify = { ...verify, clientsMissing: verify.clientsMissing.slice(0, 20), firstCheck, extraRounds };
    if (firstCheck.missing > 0 || firstCheck.rootsDiffer > 0) {
      result.errors.push(`verification after settling: ${firstCheck.missing} acknowledged writes missing on some client, ${firstCheck.rootsDiffer} ledgers with differing roots${extraRounds ? `; after ${extraRounds} more sync rounds: ${verify.missing} missing, ${verify.rootsDiffer} differing` : ""}`);
    }

    // Samples and costs.
    const stats = await phase("stats", () => pool.all("stats", 30_000));
    const latencies = concat(stats.map((s) => s.latencies));
    const seenAt = concat(stats.map((s) => s.seenAt));
    const members = new Map();
    for (const s of specs) members.set(s.ledger, (members.get(s.ledger) ?? 0) + 1);
    const expected = Object.entries(acked).reduce((n, [ledger, ids]) => n + ids.length * (members.get(ledger) - 1), 0);
    let whileWriting = 0;
    for (const t of seenAt) if (t <= windowMs) whileWriting++;
    result.deliveries = { seen: latencies.length, expected, whileWriting, perSecondWhileWriting: round(whileWriting / config.seconds) };
    const lat = summarize(latencies);
    result.latency = { count: lat.count, p50: round(lat.p50, 2), p95: round(lat.p95, 2), p99: round(lat.p99, 2), max: round(lat.max, 2) };
    result.series = perSecond(latencies, seenAt, Math.ceil(config.seconds));
    // The first seconds run slower (cold code paths, connection pools growing): the same figures without the first third of the window.
    const warmMs = windowMs / 3;
    const steady = summarize(latencies.filter((_, i) => seenAt[i] >= warmMs));
    result.latencySteady = { afterMs: round(warmMs, 0), count: steady.count, p50: round(steady.p50, 2), p95: round(steady.p95, 2), p99: round(steady.p99, 2), max: round(steady.max, 2) };
    // Where a write's time goes: the writer's local put, then its push (bundle and announcement stored), then the readers' pull.
    const brief = (samples) => {
      const x = summarize(samples);
      return { count: x.count, p50: round(x.p50, 1), p99: round(x.p99, 1) };
    };
    result.writer = { putMs: brief(concat(stats.map((s) => s.putMs))), pushedMs: brief(concat(stats.map((s) => s.pushedMs))) };
    const kinds = new Set(stats.flatMap((s) => Object.keys(s.requestMs)));
    result.clientRequests = Object.fromEntries(
      [...kinds].map((k) => [k, brief(concat(stats.map((s) => s.requestMs[k] ?? new Float64Array(0))))]).sort((a, b) => b[1].count - a[1].count),
    );

    const span = edges.end.at - edges.start.at;
    const workerCpuMs = stats.reduce((n, s) => n + (s.cpu.user + s.cpu.system) / 1000, 0);
    const workerMs = Math.max(...stats.map((s) => s.writeMs));
    const selfCpu = process.cpuUsage(edges.start.self);
    const cores = availableParallelism();
    result.cpu = {
      cores,
      serverPct: round(((edges.end.server - edges.start.server) / span) * 100, 1),
      workersPct: round((workerCpuMs / workerMs) * 100, 1),
      perWorkerPct: stats.map((s) => round(((s.cpu.user + s.cpu.system) / 1000 / s.writeMs) * 100, 1)),
      parentPct: round(((selfCpu.user + selfCpu.system) / 1000 / (performance.now() - edges.start.at)) * 100, 1),
      machinePct: round(((edges.end.machine.busy - edges.start.machine.busy) / (edges.end.machine.total - edges.start.machine.total)) * 100, 1),
    };
    // Costs per unit of work, which hold whatever else the machine is doing: CPU per acknowledged write and per delivery.
    result.cpu.serverMsPerWrite = round((edges.end.server - edges.start.server) / Math.max(1, result.writes.acked), 2);
    result.cpu.clientMsPerDelivery = round(workerCpuMs / Math.max(1, result.deliveries.whileWriting + result.writes.acked), 2);
    // What the machine spent beyond this test's processes, in % of a core: other jobs on a shared box, and kernel work
    // charged to no process (loopback TCP runs partly in softirq).
    result.cpu.othersPct = round(result.cpu.machinePct * cores - result.cpu.serverPct - result.cpu.workersPct - result.cpu.parentPct, 0);
    result.loadAverage = loadavg().map((x) => round(x, 2));
    result.clients = {
      timerLagP99: round(Math.max(...stats.map((s) => s.timerLag.p99)), 1),
      timerLagMax: round(Math.max(...stats.map((s) => s.timerLag.max)), 1),
      loopDelayP99: round(Math.max(...stats.map((s) => s.loopDelay.p99)), 1),
      loopDelayMax: round(Math.max(...stats.map((s) => s.loopDelay.max)), 1),
      workerMaxRssMb: stats.map((s) => round(s.maxRssKb / 1024, 0)),
    };
    const mem = memory.stop();
    memory = undefined;
    result.server = { rssIdleKb, rssMaxSampledKb: mem.maxSampledKb, rssEndKb: mem.lastKb, hwmKb: mem.hwmKb };

    await phase("close", async () => {
      await pool.all("close", 20_000, () => ({ timeoutMs: 15_000 })).catch((err) => result.errors.push(`close: ${errorText(err)}`));
      await pool.exited(5_000);
    });
  } catch (err) {
    result.errors.push(errorText(err));
    if (server?.stderr()) result.serverStderrTail = server.stderr().slice(-2000);
  } finally {
    memory?.stop();
    pool?.kill();
    if (servers.length > 0) {
      result.serverExit = (await Promise.all(servers.map((s) => s.stop()))).join(", ");
      for (const s of servers) live.servers.delete(s);
      // The request mix of the writing window, over every instance (the log's timestamps are when each answer was sent).
      const requests = await summarizeLog(servers.map((s) => s.logFile), result.window ?? undefined);
      result.server = { ...result.server, requests };
      if (result.writes && result.window) {
        result.server.requestsPerSecond = round(requests.inWindow / config.seconds, 0);
        result.server.requestsPerWrite = round(requests.inWindow / result.writes.acked, 1);
      }
    }
    if (pool) live.pools.delete(pool);
    if (storage) {
      await storage.stop().catch((err) => result.errors.push(`storage stop: ${errorText(err)}`));
      live.storages.delete(storage);
    }
    if (profDir) {
      const serverPid = server ? `.${server.pid}.` : undefined;
      result.profiles = readdirSync(profDir).map((f) => {
        const file = path.join(profDir, f);
        try {
          return { role: serverPid && f.includes(serverPid) ? "server" : "client worker", ...summarizeProfile(file) };
        } catch (err) {
          return { file, error: errorText(err) };
        }
      });
    }
    if (config.keep) result.dir = dir;
    else rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const { config, rates } = readConfig();
const runs = [];
for (const rate of rates) {
  const started = performance.now();
  const log = (what) => process.stderr.write(`[load rate ${rate}/s, ${((performance.now() - started) / 1000).toFixed(1)} s] ${what}\n`);
  const result = await runOnce({ ...config, rate }, log);
  log(`done: ${result.errors.length} errors`);
  runs.push(result);
}
printReport(runs);
for (const r of runs) {
  // The server's profile and one client worker's (the others look alike).
  const profiles = r.profiles ?? [];
  for (const p of [profiles.find((x) => x.role === "server"), profiles.find((x) => x.role === "client worker")]) {
    if (p?.areas) {
      console.log(`\nrate ${r.config.rate}/s, ${p.role} profile:`);
      printProfile(p);
    }
  }
}
mkdirSync(path.dirname(config.out), { recursive: true });
writeFileSync(config.out, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cores: availableParallelism(), runs }, null, 2)}\n`);
console.log(`\nJSON: ${path.relative(process.cwd(), config.out)}`);
const correct = runs.every((r) => r.verify && r.verify.firstCheck.missing === 0 && r.verify.firstCheck.rootsDiffer === 0 && r.errors.length === 0);
process.exitCode = correct ? 0 : 1;
