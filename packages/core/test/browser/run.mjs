// Runs core's portable suites in real headless Chromium (`npm run test:browser`).
//
// 1. Bundles test/browser/entry.ts with esbuild for the browser. Any `node:`
//    import reachable from it fails the build: that is the guard that core
//    stays browser-safe outside its Node-only files.
// 2. Serves the bundle and a one-line HTML page from an in-process HTTP
//    server on 127.0.0.1 (a free port), so IndexedDB gets a real origin.
// 3. Drives Debian's Chromium with playwright-core; the page reports each
//    case through an exposed binding, and this script prints one line per
//    case and a final `N passed, N failed`, exiting non-zero on any failure,
//    on page or console errors, on a deadline, or if no case ran.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { bundleFailure, bundleForBrowser, indent, launchChromium, serveScript } from "./chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, "entry.ts");
const DEADLINE_MS = Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 180_000);

async function main() {
  const started = performance.now();
  let passed = 0;
  let failed = 0;
  const fail = (name, detail) => {
    failed++;
    console.log(`✗ ${name}`);
    if (detail) console.log(indent(detail));
  };

  let script;
  try {
    script = await bundleForBrowser(ENTRY);
  } catch (err) {
    fail("bundle test/browser/entry.ts for the browser", bundleFailure(err));
    return { passed, failed };
  }

  const server = await serveScript(script, "Hearth browser tests");
  const { port } = server.address();
  let browser;
  try {
    try {
      browser = await launchChromium();
    } catch (err) {
      fail("launch Chromium", err.message);
      return { passed, failed };
    }
    const page = await browser.newPage();

    let running;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    page.on("pageerror", (err) => fail(`page error${running ? ` during "${running}"` : ""}`, err.stack ?? err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") fail(`console.error${running ? ` during "${running}"` : ""}`, msg.text());
    });
    page.on("crash", () => {
      fail(`page crashed${running ? ` during "${running}"` : ""}`);
      finish("crash");
    });
    await page.exposeFunction("__hearthReport", (report) => {
      if (report.type === "start") {
        running = report.name;
      } else if (report.type === "case") {
        running = undefined;
        if (report.ok) {
          passed++;
          console.log(`✓ ${report.name} (${report.ms.toFixed(0)} ms)`);
        } else {
          fail(report.name, report.error);
        }
      } else if (report.type === "done") {
        finish("done");
      }
    });

    let timer;
    const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve("deadline"), DEADLINE_MS)));
    await page.goto(`http://127.0.0.1:${port}/`);
    // The file a user would choose (file-input-cases.ts checks it byte by byte).
    const chosen = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < chosen.length; i++) chosen[i] = (i * 7 + (i >> 8)) & 0xff;
    await page.setInputFiles("#hearth-file", { name: "lake.jpg", mimeType: "image/jpeg", buffer: chosen });
    const outcome = await Promise.race([finished, deadline]);
    clearTimeout(timer);
    if (outcome === "deadline") {
      fail(`deadline of ${DEADLINE_MS} ms passed${running ? ` while "${running}" was running` : " before the page finished"}`);
    }
    console.log(`browser suites took ${((performance.now() - started) / 1000).toFixed(1)} s in Chromium ${browser.version()}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  }
  return { passed, failed };
}

const { passed, failed } = await main().catch((err) => {
  console.log(`✗ browser runner crashed\n${indent(err.stack ?? err)}`);
  return { passed: 0, failed: 1 };
});
if (passed === 0 && failed === 0) console.log("✗ no browser test cases ran");
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
