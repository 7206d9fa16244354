// Runs @hearth/react's hook tests in real headless Chromium (part of `npm run test:browser`):
// hooks-page.tsx is bundled with esbuild, served from 127.0.0.1 so IndexedDB has a real
// origin, and driven with playwright-core; each case is reported through an exposed
// binding, one line per case.
//
// `reacts()` lists the React builds the cases run against. Only the dev dependency (19)
// today: a second, aliased React 18 (react-18 / react-dom-18) cannot sit in this
// workspace's lockfile beside 19, because react-dom 18's peer dependency on react 18
// conflicts with the root's react 19 (npm ERESOLVE).
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { bundleFailure, bundleForBrowser, indent, launchChromium, serveScript } from "../../../core/test/browser/chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, "hooks-page.tsx");
const DEADLINE_MS = Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 120_000);

/** The React builds to run the cases against (see the header). */
function reacts() {
  return [{ label: "React 19", alias: {} }];
}

async function runOne({ label, alias }, browser) {
  let passed = 0;
  let failed = 0;
  const fail = (name, detail) => {
    failed++;
    console.log(`✗ ${label}: ${name}`);
    if (detail) console.log(indent(detail));
  };
  let script;
  try {
    script = await bundleForBrowser(ENTRY, { jsx: "automatic", define: { "process.env.NODE_ENV": '"development"' }, alias });
  } catch (err) {
    fail("bundle hooks-page.tsx for the browser", bundleFailure(err));
    return { passed, failed };
  }
  const server = await serveScript(script, `Hearth React hooks (${label})`);
  const { port } = server.address();
  const page = await browser.newPage();
  try {
    let running;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    page.on("pageerror", (err) => fail(`page error${running ? ` during "${running}"` : ""}`, err.stack ?? err.message));
    page.on("console", (msg) => {
      // React's act() warnings and errors are failures too: a hook that updates outside act is a bug to fix.
      if (msg.type() === "error") fail(`console.error${running ? ` during "${running}"` : ""}`, msg.text());
    });
    await page.exposeFunction("__hearthReport", (report) => {
      if (report.type === "start") running = report.name;
      else if (report.type === "case") {
        running = undefined;
        if (report.ok) {
          passed++;
          console.log(`✓ ${label}: ${report.name} (${report.ms.toFixed(0)} ms)`);
        } else fail(report.name, report.error);
      } else if (report.type === "done") finish("done");
    });
    let timer;
    const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve("deadline"), DEADLINE_MS)));
    await page.goto(`http://127.0.0.1:${port}/`);
    const outcome = await Promise.race([finished, deadline]);
    clearTimeout(timer);
    if (outcome === "deadline") fail(`deadline of ${DEADLINE_MS} ms passed${running ? ` while "${running}" was running` : ""}`);
  } finally {
    await page.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  }
  return { passed, failed };
}

async function main() {
  let browser;
  try {
    browser = await launchChromium();
  } catch (err) {
    console.log(`✗ launch Chromium\n${indent(err.message)}`);
    return { passed: 0, failed: 1 };
  }
  try {
    let passed = 0;
    let failed = 0;
    for (const react of reacts()) {
      const result = await runOne(react, browser);
      passed += result.passed;
      failed += result.failed;
    }
    return { passed, failed };
  } finally {
    await browser.close().catch(() => undefined);
  }
}

const { passed, failed } = await main().catch((err) => {
  console.log(`✗ React hooks runner crashed\n${indent(err.stack ?? err)}`);
  return { passed: 0, failed: 1 };
});
if (passed === 0 && failed === 0) console.log("✗ no React hook cases ran");
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
