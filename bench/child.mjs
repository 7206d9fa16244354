// Runs one bench child process and gathers its step reports. Every engine
// runs in a child of its own, so a crash, hang or heap exhaustion costs only
// that child's cells, never the whole bench.
import { spawn } from "node:child_process";
import path from "node:path";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import { MARK } from "./step.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/**
 * Runs `node --expose-gc bench/<script> ...args` to completion or to its
 * deadline. Whatever happens, resolves with the steps it reported and, if
 * it did not exit cleanly, why.
 * @param {string} script file name inside bench/
 * @param {string[]} args
 * @param {{ timeoutMs: number, env?: Record<string, string>, nodeArgs?: string[] }} options
 *   `nodeArgs` go to node before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses)
 * @returns {Promise<{ steps: Record<string, Record<string, unknown>>, error?: string, stderrTail?: string }>}
 */
export function runChild(script, args, { timeoutMs, env = {}, nodeArgs = [] }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--expose-gc", ...nodeArgs, path.join(BENCH_DIR, script), ...args], {
      cwd: BENCH_DIR,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
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
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let error;
      if (timedOut) error = `child killed at its ${timeoutMs / 1000} s deadline`;
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

/** Seconds with one decimal, for progress lines. */
export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Parses a comma-separated list from the environment, refusing names it
 * does not know (a typo must not silently run nothing).
 * @param {string} name environment variable
 * @param {string[]} allowed in output order
 */
export function listFromEnv(name, allowed) {
  const raw = process.env[name];
  if (!raw) return allowed;
  const picked = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = picked.filter((p) => !allowed.includes(p));
  if (unknown.length) throw new TypeError(`${name}: unknown ${unknown.join(", ")}; expected some of ${allowed.join(", ")}`);
  return allowed.filter((a) => picked.includes(a));
}
