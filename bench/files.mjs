// The files section of `npm run bench`: one large file (BENCH_FILE_MB,
// 256 MiB by default) from device A through a sync point to device B, in
// MB/s end to end, next to a raw copy of the same bytes on the same disk
// (the physical bound), the floor (bench/files-floor.mjs: the work the
// design must do, alone, over a directory and over a bare HTTP server) and
// PouchDB replicating it as an attachment. Hearth
// runs twice: over a `file://` sync point and through `hearth serve` in a
// process of its own; A and B are each a child process (bench/files-child.mjs)
// with its own store and keyring. Columns run one after the other.
//
// Environment:
//   BENCH_FILE_MB=256                      size of the file (MiB)
//   BENCH_FILES_COLUMNS=raw,floorFile,file,floorServe,serve,pouchdb   columns to run (default all)
//   BENCH_FILES_SERVER=diagnostic          `bench/load-serve.mjs --fsync 0 --log 0` (default), or
//                                          `cli`: the real `hearth serve` (fsync on, request log)
//   BENCH_FILES_FLOOR_B=as-they-land       when the floor's B fetches: as blocks land (default), or `after-put` (once A is done, as a real B)
//   BENCH_FILES_TIMEOUT_MS=300000          deadline of A's and B's filesSynced()
//   BENCH_FILES_CHILD_TIMEOUT_MS=420000    deadline of one Hearth or raw child
//   BENCH_FILES_POUCHDB_TIMEOUT_MS=300000  deadline of the PouchDB child (put + replicate + check)
//   BENCH_FILES_CPU_PROF=<dir>             write --cpu-prof profiles of the Hearth children (and the server) there
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { listFromEnv, runChild, seconds } from "./child.mjs";
import { createTokens, procMemory, startServer } from "./load-server.mjs";
import { writeSourceFile } from "./files-source.mjs";
import { startFloorServer } from "./files-floor.mjs";
import { buildFilesTable, FILES_COLUMNS, hearthTimeline } from "./files-table.mjs";
import { errorText } from "./step.mjs";

const MiB = 1024 * 1024;
const LEDGER = "bench-files";

function settingsFromEnv() {
  const num = (name, fallback) => {
    const value = Number(process.env[name] ?? fallback);
    if (!(Number.isSafeInteger(value) && value > 0)) throw new TypeError(`${name} must be a positive integer, got ${process.env[name]}`);
    return value;
  };
  const server = process.env.BENCH_FILES_SERVER ?? "diagnostic";
  const floorB = process.env.BENCH_FILES_FLOOR_B ?? "as-they-land";
  if (floorB !== "as-they-land" && floorB !== "after-put") throw new TypeError(`BENCH_FILES_FLOOR_B must be as-they-land or after-put, got ${floorB}`);
  if (server !== "diagnostic" && server !== "cli") throw new TypeError(`BENCH_FILES_SERVER must be diagnostic or cli, got ${server}`);
  return {
    mb: num("BENCH_FILE_MB", 256),
    columns: listFromEnv("BENCH_FILES_COLUMNS", FILES_COLUMNS.map((c) => c.key)),
    server,
    floorB,
    timeoutMs: num("BENCH_FILES_TIMEOUT_MS", 300_000),
    childTimeoutMs: num("BENCH_FILES_CHILD_TIMEOUT_MS", 420_000),
    pouchdbTimeoutMs: num("BENCH_FILES_POUCHDB_TIMEOUT_MS", 300_000),
    cpuProf: process.env.BENCH_FILES_CPU_PROF,
  };
}

const filesChild = (role, options, timeoutMs, nodeArgs = []) => runChild("files-child.mjs", [role, JSON.stringify(options)], { timeoutMs, nodeArgs });

/** A and B at sync point `point`, started together; they meet through files in `dir`. */
async function runHearthPair(dir, point, source, settings) {
  const { bytes, sha256 } = source;
  const nodeArgs = settings.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(settings.cpuProf)}`] : [];
  const common = { dir, point, bytes, timeoutMs: settings.timeoutMs };
  const [a, b] = await Promise.all([
    filesChild("hearth-a", { ...common, source: source.path }, settings.childTimeoutMs, nodeArgs),
    filesChild("hearth-b", { ...common, sha256 }, settings.childTimeoutMs, nodeArgs),
  ]);
  return { a, b };
}

/** The floor's A and B (bench/files-floor.mjs) at sync point `point` (a directory or the floor server's URL). */
async function runFloorPair(dir, point, source, settings) {
  const common = { dir, point, bytes: source.bytes };
  const [a, b] = await Promise.all([
    filesChild("floor-a", { ...common, source: source.path }, settings.childTimeoutMs),
    filesChild("floor-b", { ...common, afterPut: settings.floorB === "after-put" }, settings.childTimeoutMs),
  ]);
  return { a, b };
}

const COLUMNS = {
  raw: async (dir, source, settings) => ({
    raw: await filesChild("raw", { source: source.path, target: path.join(dir, "copy.bin"), sha256: source.sha256, bytes: source.bytes }, settings.childTimeoutMs),
  }),
  floorFile: async (dir, source, settings) => {
    const point = path.join(dir, "point");
    await mkdir(point, { recursive: true });
    return runFloorPair(dir, point, source, settings);
  },
  floorServe: async (dir, source, settings) => {
    const server = await startFloorServer(path.join(dir, "point"));
    try {
      return await runFloorPair(dir, server.url, source, settings);
    } finally {
      await server.close();
    }
  },
  file: async (dir, source, settings) => {
    const point = path.join(dir, "point");
    await mkdir(point, { recursive: true });
    return runHearthPair(dir, pathToFileURL(point).href, source, settings);
  },
  serve: async (dir, source, settings) => {
    const backendArgs = ["--data", path.join(dir, "server-data")];
    const { [LEDGER]: token } = await createTokens(backendArgs, [LEDGER]);
    const cli = settings.server === "cli";
    const profDir = settings.cpuProf && path.resolve(settings.cpuProf);
    const server = await startServer({ backendArgs, logFile: path.join(dir, "server.log"), variant: { fsync: cli, log: cli }, ...(profDir && { profDir }) });
    try {
      const pair = await runHearthPair(dir, `${server.url}/${LEDGER}?token=${encodeURIComponent(token)}`, source, settings);
      const { hwmKb } = procMemory(server.pid);
      return { ...pair, server: Number.isFinite(hwmKb) ? { hwmBytes: hwmKb * 1024 } : { error: "no VmHWM in /proc" } };
    } finally {
      await server.stop();
    }
  },
  pouchdb: async (dir, source, settings) => ({
    pouchdb: await filesChild("pouchdb", { dir, source: source.path, sha256: source.sha256, bytes: source.bytes }, settings.pouchdbTimeoutMs),
  }),
};

/**
 * Runs the files section and prints its table.
 * @param {string} runDir scratch directory under bench/.data, removed by the caller
 * @returns {Promise<{ settings: object, bytes: number, sha256: string, rows: object[], results: object }>} what last.json keeps
 */
export async function runFilesSection(runDir) {
  const settings = settingsFromEnv();
  await mkdir(runDir, { recursive: true });
  const source = await writeSourceFile(path.join(runDir, "source.bin"), settings.mb * MiB);
  const server = settings.server === "cli" ? "hearth serve (CLI, fsync, request log)" : "bench/load-serve.mjs --fsync 0 --log 0";
  console.log(`files: one ${settings.mb} MiB file A → sync point → B; columns ${settings.columns.join(", ")}; server ${server}`);
  const results = {};
  for (const key of settings.columns) {
    const dir = path.join(runDir, key);
    await mkdir(dir, { recursive: true });
    const t0 = performance.now();
    try {
      results[key] = await COLUMNS[key](dir, source, settings);
    } catch (err) {
      // Set-up failed (e.g. the server did not start): the column's cells read FAILED.
      const failed = { steps: { setup: { error: errorText(err) } } };
      results[key] = key === "raw" ? { raw: failed } : key === "pouchdb" ? { pouchdb: failed } : { a: failed, b: failed };
    }
    console.log(`  ${key}: ${seconds(performance.now() - t0)}`);
    // Each column's copies of the file are gone before the next column runs.
    await rm(dir, { recursive: true, force: true });
  }
  const table = buildFilesTable(results, source.bytes);
  console.log();
  console.log(`Files: one ${settings.mb} MiB file, A → sync point → B (MB = 2^20 bytes). Ratio columns: > 1 means Hearth is better`);
  console.log("(rates: Hearth / peer; memory: peer / Hearth). Raw copy and PouchDB run in one process: its peak is on both RSS rows.");
  console.log();
  console.log(table.text);
  console.log();
  for (const { key, title } of FILES_COLUMNS) {
    const line = (key === "file" || key === "serve") && hearthTimeline(title, results[key]);
    if (line) console.log(`note: ${line}`);
  }
  for (const failure of table.failures) console.log(`FAILED ${failure}`);
  return { settings, bytes: source.bytes, sha256: source.sha256, rows: table.rows, results };
}
