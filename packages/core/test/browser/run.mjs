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
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, "entry.ts");
const DEADLINE_MS = Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 180_000);
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const PAGE = `<!doctype html><meta charset="utf-8"><title>Hearth browser tests</title><script type="module" src="/entry.js"></script>\n`;

/** esbuild plugin: refuse `node:` imports with a message that names the importer. */
const forbidNodeBuiltins = {
  name: "forbid-node-builtins",
  setup(builder) {
    builder.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [
        {
          text: `"${args.path}" is a Node built-in, imported by ${relative(process.cwd(), args.importer)}; code bundled for browsers must not use Node built-ins (move it to a Node-only file)`,
        },
      ],
    }));
  },
};

async function bundle() {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    sourcemap: "inline",
    logLevel: "silent",
    plugins: [forbidNodeBuiltins],
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error("esbuild produced no output");
  return output.contents;
}

function serve(script) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    } else if (path === "/entry.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    } else if (path === "/favicon.ico") {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function indent(text) {
  return String(text)
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

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
    script = await bundle();
  } catch (err) {
    const messages = err.errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ""}${e.text}`);
    fail("bundle test/browser/entry.ts for the browser", messages?.join("\n") ?? String(err));
    return { passed, failed };
  }

  const server = await serve(script);
  const { port } = server.address();
  let browser;
  try {
    const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
    try {
      browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    } catch (err) {
      fail(`launch Chromium at ${executablePath}`, `${err.message}\n(install it with: apt-get install -y chromium, or set CHROMIUM_PATH)`);
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
