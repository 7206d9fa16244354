// A 1 GiB file through an IndexedDB ledger in real headless Chromium (part
// of `npm run test:browser`): written from a stream and read back as one,
// the renderer's memory must not grow with the file. Memory is the
// renderer process's peak RSS (VmHWM in /proc/<pid>/status, Linux), taken
// once the page has warmed up and again at the end; the check is that it
// grew by less than 400 MB, where holding the file would take over 1 GB.
// Not timed. Prints one line and `N passed, N failed`; exits non-zero on
// failure, a page error, or the deadline.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { bundleFailure, bundleForBrowser, indent, launchChromium, serveScript } from "./chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const DEADLINE_MS = 180_000;
const FILE_BYTES = 1024 ** 3;
const MAX_GROWTH_BYTES = 400e6;

/** Peak RSS (bytes) of every Chromium renderer process now, by pid. */
function rendererPeaks() {
  const peaks = new Map();
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer")) continue;
      const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      if (kib !== undefined) peaks.set(pid, Number(kib) * 1024);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return peaks;
}

const name = "files: a 1 GiB file written to IndexedDB and read back keeps the renderer's memory flat";
let failed = false;
let browser;
let server;
try {
  let script;
  try {
    script = await bundleForBrowser(join(HERE, "files-memory-page.ts"));
  } catch (err) {
    throw new Error(`bundling files-memory-page.ts failed\n${bundleFailure(err)}`);
  }
  server = await serveScript(script, "Hearth files memory");
  const others = new Set(rendererPeaks().keys());
  browser = await launchChromium();
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.stack ?? err.message));
  let before;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  await page.exposeFunction("__filesMemoryReady", () => {
    before = new Map([...rendererPeaks()].filter(([pid]) => !others.has(pid)));
  });
  await page.exposeFunction("__filesMemoryDone", (result) => finish(result));
  let timer;
  const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve({ ok: false, error: `deadline of ${DEADLINE_MS} ms passed` }), DEADLINE_MS)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const result = await Promise.race([finished, deadline]);
  clearTimeout(timer);
  if (errors.length > 0) throw new Error(`page errors:\n${errors.join("\n")}`);
  if (!result.ok) throw new Error(result.error);
  if (result.bytes !== FILE_BYTES) throw new Error(`read back ${result.bytes} bytes of ${FILE_BYTES}`);
  if (!before || before.size === 0) throw new Error("found no renderer process of this browser in /proc");
  const after = rendererPeaks();
  const growth = Math.max(...[...before].map(([pid, peak]) => (after.get(pid) ?? peak) - peak));
  const peak = Math.max(...[...before.keys()].map((pid) => after.get(pid) ?? 0));
  const line = `renderer peak RSS grew ${(growth / 1e6).toFixed(0)} MB (to ${(peak / 1e6).toFixed(0)} MB); put ${(result.putMs / 1000).toFixed(1)} s, read ${(result.readMs / 1000).toFixed(1)} s`;
  if (growth >= MAX_GROWTH_BYTES) throw new Error(`${line}: more than ${MAX_GROWTH_BYTES / 1e6} MB, so the file is held in memory`);
  console.log(`✓ ${name}: ${line}`);
} catch (err) {
  failed = true;
  console.log(`✗ ${name}\n${indent(err.stack ?? err.message)}`);
} finally {
  await browser?.close().catch(() => undefined);
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
}
console.log(`${failed ? 0 : 1} passed, ${failed ? 1 : 0} failed`);
process.exitCode = failed ? 1 : 0;
