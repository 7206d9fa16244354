// The HTTP remote in a real browser (Debian's Chromium via playwright-core):
// native fetch and WebSocket, a page on another origin than the server, the
// remote and sync conformance suites. The bundle is built for the browser
// with Node built-ins refused, as core's own browser runner does.
import { createServer as createPageServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, startServer, uniqueLedger } from "./helpers/server.js";

interface Report {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

let pages: Server | undefined;
afterAll(async () => {
  pages?.closeAllConnections();
  if (pages) await new Promise((resolve) => pages!.close(resolve));
  await cleanup();
});

async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("./browser/http-entry.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "silent",
    plugins: [
      {
        name: "forbid-node-builtins",
        setup(builder) {
          builder.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: `${args.path} imported by ${args.importer}: no Node built-ins in browser code` }] }));
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}

describe("HTTP remote in Chromium", () => {
  it("passes the remote and sync conformance suites against a real server, cross-origin", async () => {
    const s = await startServer();
    const ledgers = await Promise.all(Array.from({ length: 40 }, async () => {
      const ledger = uniqueLedger("browser");
      return { ledger, token: await s.token(ledger) };
    }));
    const script = await bundle();
    const html = `<!doctype html><meta charset="utf-8"><script>window.__hearthConfig = ${JSON.stringify({ server: s.url, ledgers })};</script><script type="module" src="/entry.js"></script>`;
    pages = createPageServer((req, res) => {
      if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
      else if (req.url === "/entry.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => pages!.listen(0, "127.0.0.1", resolve));
    const pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
    expect(new URL(pageUrl).origin).not.toBe(new URL(s.url).origin);

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--headless=new", "--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      let deliver: (reports: Report[]) => void = () => undefined;
      const delivered = new Promise<Report[]>((resolve) => (deliver = resolve));
      await page.exposeFunction("__hearthReport", (reports: Report[]) => deliver(reports));
      await page.goto(pageUrl);
      const reports = await withDeadline(delivered, 150_000, "the browser cases");
      expect(problems).toEqual([]);
      expect(reports.length).toBeGreaterThan(25);
      expect(reports.filter((r) => !r.ok)).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
