// `npm run bench:browser`: Hearth's IndexedDB store vs Dexie 4 and PouchDB 9
// (idb) in real headless Chromium (Debian's, through playwright-core), one
// run, side by side, at several sizes, with the documents of the Node benches
// (bench/workload.mjs).
//
// Each engine is bundled alone with the page runner (bench/browser-page.mjs)
// by esbuild, minified as an app would ship it. Every engine x size gets an
// origin of its own (its own 127.0.0.1 port), so its storage starts empty and
// navigator.storage.estimate() counts only that engine. The browser keeps one
// persistent profile on disk (as a user's does, not an in-memory incognito
// context) under bench/.data/, removed at the end. Per engine x size, three
// page loads on its origin:
//   load    open, bulk load in batches of 1,000, close
//   reopen  a new page load: open + read every doc (timed from navigation
//           start), the done === true query, random gets by id, close
//   size    a new page load: navigator.storage.estimate()
//
// Environment:
//   BENCH_BROWSER_N=10000,50000,100000  sizes (default those three)
//   BENCH_BROWSER_ENGINES=hearth,dexie   engines (default hearth,dexie,pouchdb)
//   BENCH_BROWSER_GETS=5000              random gets by id per size (at most N)
//   BENCH_BROWSER_PHASE_TIMEOUT_MS       deadline of one page load (default 900000)
//   BENCH_BROWSER_CORE=/path/to/core     bundle Hearth from another built copy of packages/core
//   BENCH_BROWSER_WARMUP_N=1000          documents of the unmeasured warm-up pass (0: none)
//                                        (its dist/), to compare builds; default this repo's
//   BENCH_BROWSER_OUT                    where the JSON goes (default bench/.data/browser-last.json)
//   BENCH_BROWSER_PROFILE=dir            write a CPU profile of each reopen page load there
//                                        (<engine>-<n>.cpuprofile, Chrome DevTools' format; slows the page)
//   BENCH_BROWSER_SETTLE_MS=6000         wait this long on about:blank before the size phase (default 0),
//                                        to see whether IndexedDB compacts once its connections close
//   CHROMIUM_PATH                        default /usr/bin/chromium
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listFromEnv, seconds } from "./child.mjs";
import { buildBrowserTable } from "./browser-table.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const DATA_DIR = path.join(BENCH_DIR, ".data");
const ENGINES = listFromEnv("BENCH_BROWSER_ENGINES", ["hearth", "dexie", "pouchdb"]);
const SIZES = (process.env.BENCH_BROWSER_N ?? "10000,50000,100000").split(",").map((s) => Number(s.trim()));
const GETS = Number(process.env.BENCH_BROWSER_GETS ?? 5_000);
const PHASE_TIMEOUT_MS = Number(process.env.BENCH_BROWSER_PHASE_TIMEOUT_MS ?? 900_000);
const PHASES = ["load", "reopen", "size"];
const CORE = process.env.BENCH_BROWSER_CORE;
const SETTLE_MS = Number(process.env.BENCH_BROWSER_SETTLE_MS ?? 0);
/** Documents of the unmeasured warm-up pass (0: none). */
const WARMUP_N = Number(process.env.BENCH_BROWSER_WARMUP_N ?? 1_000);
const PROFILE_DIR = process.env.BENCH_BROWSER_PROFILE;

if (SIZES.some((n) => !Number.isSafeInteger(n) || n <= 0)) throw new TypeError(`BENCH_BROWSER_N: expected positive integers, got ${process.env.BENCH_BROWSER_N}`);

/** The page script for one engine: the runner with that engine's adapter, minified. */
async function bundle(engine) {
  const result = await build({
    stdin: {
      contents: `import { runPage } from "./browser-page.mjs"; import { engine } from "./browser-${engine}.mjs"; runPage(engine);`,
      resolveDir: BENCH_DIR,
      sourcefile: `browser-entry-${engine}.mjs`,
    },
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: !PROFILE_DIR, // a profile names functions only in an unminified bundle
    write: false,
    logLevel: "silent",
    define: { global: "globalThis" },
    ...(CORE && { alias: { "@hearth/core": path.resolve(CORE, "dist/index.browser.js") } }),
  });
  return result.outputFiles[0].contents;
}

/** Leaves the origin `server` serves (for a blank page) and stops it. */
async function closeServer(page, server) {
  await page.goto("about:blank");
  server.closeAllConnections(); // the page keeps its keep-alive connection open
  await new Promise((resolve) => server.close(resolve));
}

/** Serves `script` under a one-line page on a free 127.0.0.1 port: one origin. */
function serve(script) {
  const page = `<!doctype html><meta charset="utf-8"><title>bench</title><script type="module" src="/entry.js"></script>\n`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    else if (url.pathname === "/entry.js") res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    else res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/**
 * Loads one phase's page and collects its step reports until it says done,
 * fails, or passes the deadline. Never throws: a failure is `{ error }`.
 */
async function runPhase(page, port, phase, n, gets = GETS) {
  const steps = {};
  let settle;
  const finished = new Promise((resolve) => (settle = resolve));
  page.__bench = {
    step: (name, fields) => {
      steps[name] = fields;
      if (fields.error) console.log(`    ${phase}/${name} failed: ${fields.error.split("\n")[0]}`);
    },
    done: () => settle(undefined),
    fail: (error) => settle(error),
  };
  let timer;
  const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve(`deadline of ${PHASE_TIMEOUT_MS} ms passed`), PHASE_TIMEOUT_MS)));
  await page.goto(`http://127.0.0.1:${port}/?phase=${phase}&n=${n}&gets=${gets}`);
  const error = await Promise.race([finished, deadline]);
  clearTimeout(timer);
  return error ? { steps, error } : { steps };
}

/** Starts sampling the page's CPU (DevTools protocol) before its next navigation. */
async function startProfile(page) {
  const session = await page.context().newCDPSession(page);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 200 });
  await session.send("Profiler.start");
  return session;
}

/** Stops `session`'s profile and writes it to `file`. */
async function stopProfile(session, file) {
  const { profile } = await session.send("Profiler.stop");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(profile));
  await session.detach();
  console.log(`    CPU profile: ${file}`);
}

/** Bytes of every file under `dir` whose path names origin 127.0.0.1:`port` (its IndexedDB leveldb and blob folders). */
async function originBytesOnDisk(dir, port) {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath ?? entry.path, entry.name);
    if (entry.isFile() && full.includes(`127.0.0.1_${port}`)) total += (await stat(full)).size;
  }
  return total;
}

async function main() {
  const started = performance.now();
  const scripts = Object.fromEntries(await Promise.all(ENGINES.map(async (e) => [e, await bundle(e)])));
  console.log(`bench:browser: bundled ${ENGINES.join(", ")} (${ENGINES.map((e) => `${Math.round(scripts[e].length / 1024)} KiB`).join(", ")}) in ${seconds(performance.now() - started)}`);
  const profile = path.join(DATA_DIR, `browser-profile-${process.pid}`);
  await mkdir(profile, { recursive: true });
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    })
    .catch((err) => {
      throw new Error(`cannot launch Chromium: ${err.message}\n(install it with: apt-get install -y chromium, or set CHROMIUM_PATH)`);
    });
  console.log(`bench:browser: Chromium up at ${seconds(performance.now() - started)}`);
  const results = {};
  try {
    const version = context.browser()?.version() ?? "unknown";
    console.log(`bench:browser: ${SIZES.map((n) => n.toLocaleString("en-US")).join(", ")} docs; ${ENGINES.join(", ")}; ${GETS} random gets; Chromium ${version}${CORE ? `; Hearth from ${CORE}` : ""}`);
    const page = context.pages()[0] ?? (await context.newPage());
    await page.exposeFunction("__benchStep", (name, fields) => page.__bench?.step(name, fields));
    await page.exposeFunction("__benchDone", () => page.__bench?.done());
    page.on("pageerror", (err) => page.__bench?.fail(`page error: ${err.message}`));
    page.on("crash", () => page.__bench?.fail("page crashed"));
    // The first page reload of a browser run paid 40–90 ms more to load its script than later ones,
    // whichever engine it was (Dexie's 10k read after a reload: 173 ms run second, 250–309 ms run
    // first): each engine's load and reload runs once, unmeasured, on an origin of its own first.
    if (WARMUP_N > 0) {
      for (const engine of ENGINES) {
        const server = await serve(scripts[engine]);
        try {
          for (const phase of ["load", "reopen"]) {
            const outcome = await runPhase(page, server.address().port, phase, WARMUP_N, Math.min(GETS, WARMUP_N));
            if (outcome.error) throw new Error(`warm-up of ${engine} failed: ${outcome.error}`);
          }
        } finally {
          await closeServer(page, server);
        }
      }
      console.log(`bench:browser: warmed up (${ENGINES.join(", ")} at ${WARMUP_N.toLocaleString("en-US")} docs, not measured) at ${seconds(performance.now() - started)}`);
    }
    for (const n of SIZES) {
      results[n] = {};
      for (const engine of ENGINES) {
        const server = await serve(scripts[engine]);
        const { port } = server.address();
        results[n][engine] = {};
        try {
          for (const phase of PHASES) {
            const t0 = performance.now();
            if (phase === "size" && SETTLE_MS > 0) {
              await page.goto("about:blank");
              await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
            }
            const profiler = PROFILE_DIR && phase === "reopen" ? await startProfile(page) : undefined;
            const outcome = await runPhase(page, port, phase, n);
            if (profiler) await stopProfile(profiler, path.join(PROFILE_DIR, `${engine}-${n}.cpuprofile`));
            if (phase === "size") outcome.steps.diskBytes = { bytes: await originBytesOnDisk(profile, port) };
            results[n][engine][phase] = outcome;
            console.log(`  ${n} ${engine}/${phase}: ${seconds(performance.now() - t0)}${outcome.error ? ` (${outcome.error})` : ""}`);
            if (outcome.error) break;
          }
        } finally {
          await closeServer(page, server);
        }
      }
    }
    const table = buildBrowserTable(results, SIZES, ENGINES);
    const took = performance.now() - started;
    console.log();
    console.log(`Hearth (IndexedDB) vs Dexie 4 / PouchDB 9 (idb) in headless Chromium ${version}; ratio columns: > 1 means Hearth is better`);
    console.log("(rates: Hearth / peer; times and sizes: peer / Hearth). FAILED = ran and failed, n.a. = not run.");
    console.log();
    console.log(table.text);
    console.log();
    console.log(`bench:browser took ${seconds(took)}`);
    await mkdir(DATA_DIR, { recursive: true });
    const out = process.env.BENCH_BROWSER_OUT ?? path.join(DATA_DIR, "browser-last.json");
    await writeFile(out, JSON.stringify({ when: new Date().toISOString(), chromium: version, core: CORE ?? null, sizes: SIZES, engines: ENGINES, gets: GETS, tookMs: took, rows: table.rows, results }, null, 2));
    console.log(`written ${path.relative(process.cwd(), out)}`);
  } finally {
    await context.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
  }
}

await main();
