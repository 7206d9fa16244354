// Runs pages of test cases in real headless Chromium: core's portable suites
// (run.mjs), a page with a worker (tabs-worker.mjs), and the packages built on
// core (@hearth/react, @hearth/use-fireproof). Each page's script is bundled with
// esbuild (extra options per page: jsx, define, alias), served from 127.0.0.1 so
// IndexedDB has a real origin, and reports each case through the `__hearthReport`
// binding: { type: "start" | "case" | "done", … }. Prints one line per case and
// `N passed, N failed`; exits non-zero on any failure, page error, console error,
// crash or deadline, or if no case ran.
import { indent, launchChromium, serveBundle } from "./chromium.mjs";

const DEADLINE_MS = Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 120_000);

/** esbuild options for a React page: JSX, and React's development build. */
export const REACT_PAGE = { jsx: "automatic", define: { "process.env.NODE_ENV": '"development"' } };

/**
 * One page: `entry` bundled (with `bundle`'s esbuild options) and opened;
 * `afterLoad(page)` runs once it has loaded (e.g. to choose a file in an
 * input); lines are prefixed with `label` when there is one.
 */
async function runPage({ label, title = label, entry, bundle = {}, deadlineMs = DEADLINE_MS, afterLoad }, browser) {
  let passed = 0;
  let failed = 0;
  const prefix = label ? `${label}: ` : "";
  const fail = (name, detail) => {
    failed++;
    console.log(`✗ ${prefix}${name}`);
    if (detail) console.log(indent(detail));
  };
  const served = await serveBundle(entry, title, fail, bundle);
  if (!served) return { passed, failed };
  const page = await browser.newPage();
  try {
    let running;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    const during = () => (running ? ` during "${running}"` : "");
    page.on("pageerror", (err) => fail(`page error${during()}`, err.stack ?? err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") fail(`console.error${during()}`, msg.text());
    });
    page.on("crash", () => {
      fail(`page crashed${during()}`);
      finish("crash");
    });
    await page.exposeFunction("__hearthReport", (report) => {
      if (report.type === "start") running = report.name;
      else if (report.type === "case") {
        running = undefined;
        if (report.ok) {
          passed++;
          console.log(`✓ ${prefix}${report.name} (${report.ms.toFixed(0)} ms)`);
        } else fail(report.name, report.error);
      } else if (report.type === "done") finish("done");
    });
    let timer;
    const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve("deadline"), deadlineMs)));
    await page.goto(served.url);
    await afterLoad?.(page);
    const outcome = await Promise.race([finished, deadline]);
    clearTimeout(timer);
    if (outcome === "deadline") fail(`deadline of ${deadlineMs} ms passed${running ? ` while "${running}" was running` : " before the page finished"}`);
  } finally {
    await page.close().catch(() => undefined);
    await new Promise((resolve) => served.server.close(resolve));
  }
  return { passed, failed };
}

/** Runs every page in one Chromium, prints the summary and sets the exit code. */
export async function runPages(pages) {
  const started = performance.now();
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
    console.log(`the pages took ${((performance.now() - started) / 1000).toFixed(1)} s in Chromium ${browser.version()}`);
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
