// Runs pages of test cases in real headless Chromium, for the packages built on core
// (@hearth/react, @hearth/use-fireproof): each page's script is bundled with esbuild
// (extra options per page: jsx, define, alias), served from 127.0.0.1 so IndexedDB has a
// real origin, and reports each case through the `__hearthReport` binding (the protocol
// of run.mjs): { type: "start" | "case" | "done", … }. Prints one line per case and
// `N passed, N failed`; exits non-zero on any failure, page error, console error or
// deadline, or if no case ran.
import { bundleFailure, bundleForBrowser, indent, launchChromium, serveScript } from "./chromium.mjs";

const DEADLINE_MS = Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 120_000);

/** esbuild options for a React page: JSX, and React's development build. */
export const REACT_PAGE = { jsx: "automatic", define: { "process.env.NODE_ENV": '"development"' } };

async function runPage({ label, entry, bundle = {} }, browser) {
  let passed = 0;
  let failed = 0;
  const fail = (name, detail) => {
    failed++;
    console.log(`✗ ${label}: ${name}`);
    if (detail) console.log(indent(detail));
  };
  let script;
  try {
    script = await bundleForBrowser(entry, bundle);
  } catch (err) {
    fail(`bundle ${entry} for the browser`, bundleFailure(err));
    return { passed, failed };
  }
  const server = await serveScript(script, label);
  const { port } = server.address();
  const page = await browser.newPage();
  try {
    let running;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    page.on("pageerror", (err) => fail(`page error${running ? ` during "${running}"` : ""}`, err.stack ?? err.message));
    page.on("console", (msg) => {
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

/** Runs every page in one Chromium, prints the summary and sets the exit code. */
export async function runPages(pages) {
  let passed = 0;
  let failed = 0;
  let browser;
  try {
    browser = await launchChromium();
    for (const page of pages) {
      const result = await runPage(page, browser);
      passed += result.passed;
      failed += result.failed;
    }
  } catch (err) {
    console.log(`✗ page runner crashed\n${indent(err.stack ?? err)}`);
    failed++;
  } finally {
    await browser?.close().catch(() => undefined);
  }
  if (passed === 0 && failed === 0) console.log("✗ no cases ran");
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}
