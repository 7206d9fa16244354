// Where a process's CPU went, from a V8 `.cpuprofile` (`node --cpu-prof`,
// which LOAD_PROFILE=1 turns on for the server and the client workers):
// self time by area (idle, GC, Node's HTTP/net/fs internals, ws, Hearth
// core, Hearth server, …) and the top functions. Also a command:
//   node bench/load-profile.mjs <file.cpuprofile> [top]
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The area a function belongs to, from its script URL. */
function areaOf({ functionName, url }) {
  if (!url) {
    if (functionName === "(idle)") return "idle";
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(program)") return "program (V8/native, outside JS)";
    return `native ${functionName || "(anonymous)"}`;
  }
  if (url.startsWith("node:")) {
    const dep = /^node:internal\/deps\/([a-z_-]+)/.exec(url);
    if (dep) return `node:deps/${dep[1]}${dep[1] === "undici" ? " (fetch)" : ""}`;
    const m = /^node:(?:internal\/)?([a-z_]+)/.exec(url);
    return `node:${m ? m[1] : url.slice(5)}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const hearth = /packages\/([a-z0-9]+)\/(?:dist|src)\/(.*)$/.exec(url);
  if (hearth) return `hearth ${hearth[1]}/${hearth[2].split("/")[0].replace(/\.js$/, "")}`;
  if (/\/bench\//.test(url)) return "bench harness";
  return url.replace(/^file:\/\//, "");
}

/**
 * Self time by area and by function (ms, and % of the profile).
 * @param {string} file a .cpuprofile
 * @param {number} top how many functions to keep
 */
export function summarizeProfile(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map();
  const functions = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    total += us;
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = `${frame.functionName || "(anonymous)"} ${frame.url ? `${frame.url.replace(/^.*\/(packages|node_modules)\//, "$1/")}:${frame.lineNumber + 1}` : ""}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const busy = total - (areas.get("idle") ?? 0);
  const rows = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pctOfBusy: Math.round((us / busy) * 1000) / 10 }));
  return { file, totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), areas: rows(areas, 30), functions: rows(functions, top) };
}

/** Prints a summary. */
export function printProfile(summary) {
  console.log(`\n${path.basename(summary.file)}: ${summary.totalMs} ms profiled, ${summary.busyMs} ms busy (not idle)`);
  console.log("  self time by area (% of busy):");
  for (const a of summary.areas.filter((x) => x.name !== "idle").slice(0, 15)) console.log(`    ${String(a.pctOfBusy).padStart(5)} %  ${String(a.ms).padStart(7)} ms  ${a.name}`);
  console.log("  top functions by self time:");
  for (const f of summary.functions.filter((x) => !x.name.startsWith("(idle)"))) console.log(`    ${String(f.pctOfBusy).padStart(5)} %  ${String(f.ms).padStart(7)} ms  ${f.name}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error("usage: node bench/load-profile.mjs <file.cpuprofile> [top]");
    process.exit(2);
  }
  printProfile(summarizeProfile(file, Number(top) || 25));
}
