// The sync server of the load test as a child process (`hearth serve` on
// 127.0.0.1, a free port, a temp data directory), so its memory and CPU
// are its own and can be read from /proc while clients hammer it. Its
// request log (one JSON line per request) goes straight to a file: the
// parent never spends CPU on it, and afterwards it says which requests the
// server answered and how long each kind took.
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { clearInterval, clearTimeout, setInterval, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The `hearth` executable: LOAD_CLI, or the built CLI of packages/server. */
export function hearthCli() {
  return process.env.LOAD_CLI || path.join(ROOT, "packages/server/dist/cli/main.js");
}

/** Runs `node <cli> ...args` to completion within `timeoutMs`; resolves stdout, rejects with stderr. */
export function runCli(args, timeoutMs = 20_000, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hearthCli(), ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (err += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`hearth ${args.slice(0, 2).join(" ")} exited with ${signal ?? code}: ${err.trim().slice(0, 300)}`));
    });
  });
}

/**
 * Mints one read-write token per ledger with `hearth token create`, a few at
 * a time, on the backend `backendArgs` names (`["--data", dir]`, or the S3 +
 * PostgreSQL flags), with `env` added to the CLI's environment.
 */
export async function createTokens(backendArgs, ledgers, { env = {}, concurrency = 4 } = {}) {
  const tokens = {};
  let next = 0;
  const worker = async () => {
    while (next < ledgers.length) {
      const ledger = ledgers[next++];
      tokens[ledger] = (await runCli(["token", "create", "--ledger", ledger, "--rights", "rw", ...backendArgs], 20_000, env)).trim();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tokens;
}

/**
 * Starts `hearth serve <backendArgs> --port 0`; resolves once it printed
 * its URL. `profDir` turns on `--cpu-prof` (written when it exits cleanly).
 * A `variant` other than the default (fsync, log) runs bench/load-serve.mjs
 * instead: a diagnostic, the same server without fsync or logs.
 * @returns {Promise<{ url: string, pid: number, logFile: string, stop(timeoutMs?: number): Promise<string>, kill(): void, stderr(): string }>}
 */
export async function startServer({ backendArgs, env = {}, logFile, profDir, variant = {}, timeoutMs = 20_000 }) {
  const { fsync = true, log = true } = variant;
  const logFd = openSync(logFile, "w");
  const execArgv = profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];
  // The real CLI unless a diagnostic variant asks for what it does not expose.
  const command =
    fsync && log
      ? [hearthCli(), "serve", ...backendArgs, "--port", "0", "--host", "127.0.0.1"]
      : [path.join(ROOT, "bench/load-serve.mjs"), ...backendArgs, ...[["--fsync", fsync], ["--log", log]].flatMap(([flag, on]) => [flag, on ? "1" : "0"])];
  const child = spawn(process.execPath, [...execArgv, ...command], {
    stdio: ["ignore", logFd, "pipe"],
    env: { ...process.env, ...env },
  });
  closeSync(logFd);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c) => (stderr = (stderr + c).slice(-8000)));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hearth serve did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        child.stderr.off("data", check);
        resolve(match[1]);
      }
    };
    child.stderr.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hearth serve exited (${code}) before listening: ${stderr}`));
    });
  });
  return {
    url,
    pid: child.pid,
    logFile,
    stderr: () => stderr,
    /** SIGTERM (graceful: the CPU profile is written), SIGKILL after `timeoutMs`. Resolves how it ended. */
    async stop(stopTimeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return String(child.signalCode ?? child.exitCode);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
      const how = await exited;
      clearTimeout(timer);
      return String(how);
    },
    kill: () => child.kill("SIGKILL"),
  };
}

/** `VmRSS` and `VmHWM` (peak) of a process in KiB, from /proc (Linux). */
export function procMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
    return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
  } catch {
    return { rssKb: NaN, hwmKb: NaN };
  }
}

/** User + system CPU time of a process so far (ms), from /proc/<pid>/stat. */
export function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[11] = utime, fields[12] = stime (fields 14 and 15 of proc(5)), in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux (USER_HZ), fixed at 100 on every mainstream architecture

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineCpu() {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] || 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** Samples a process's RSS every `everyMs`; `stop()` returns the samples' summary. */
export function sampleMemory(pid, everyMs = 250) {
  const rss = [];
  const timer = setInterval(() => {
    const { rssKb } = procMemory(pid);
    if (Number.isFinite(rssKb)) rss.push(rssKb);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const { rssKb, hwmKb } = procMemory(pid);
      return { samples: rss.length, maxSampledKb: Math.max(0, ...rss), lastKb: rssKb, hwmKb };
    },
  };
}

/**
 * Reads the servers' request logs (one file, or one per instance, read as
 * one): per kind of request (method, and the
 * object kind: bundle, head, key, list) answered within `window` (wall
 * clock ms), how many and their duration percentiles (ms, as the server
 * measured them: from request to response close); all requests; warnings
 * and errors.
 */
export async function summarizeLog(logFiles, window = { from: -Infinity, to: Infinity }) {
  let text = "";
  for (const logFile of [logFiles].flat()) {
    try {
      text += await readFile(logFile, "utf8");
    } catch {
      // a server that never started wrote nothing
    }
  }
  if (text === "") return { kinds: {}, problems: [] };
  const byKind = new Map();
  const problems = [];
  let watchSessions = 0;
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line) continue;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.level !== "info" && problems.length < 20) problems.push(line.slice(0, 300));
    if (entry.msg === "watch") {
      watchSessions++;
      continue;
    }
    if (entry.msg !== "request") continue;
    total++;
    const at = Date.parse(entry.time);
    if (!(at >= window.from && at <= window.to)) continue;
    const object = /\/objects\/([a-z]+)\//.exec(entry.path ?? "");
    const route = object ? object[1] : /\/(list|batch)$/.exec(entry.path ?? "")?.[1] ?? entry.path ?? "?";
    const kind = `${entry.method} ${route}${entry.status >= 400 ? ` ${entry.status}` : ""}`;
    let ms = byKind.get(kind);
    if (!ms) byKind.set(kind, (ms = []));
    ms.push(entry.ms);
  }
  const kinds = {};
  for (const [kind, ms] of [...byKind].sort((a, b) => b[1].length - a[1].length)) {
    ms.sort((a, b) => a - b);
    const at = (p) => ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)];
    kinds[kind] = { count: ms.length, p50: at(50), p99: at(99), max: ms[ms.length - 1] };
  }
  const inWindow = Object.values(kinds).reduce((n, k) => n + k.count, 0);
  return { total, inWindow, kinds, watchSessions, problems };
}
