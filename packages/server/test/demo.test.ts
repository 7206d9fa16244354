// The demo behind `npm start`, end to end: `demo/start.mjs` as a child
// process (it builds the page, mints the token, runs `hearth serve --demo`)
// and the page in headless Chromium (Debian's, via playwright-core). Two
// SEPARATE browser contexts are two devices (separate IndexedDB, separate
// keyrings): the second joins with a share code made in the first; an item
// added in one appears in the other, a toggle in the other shows in the
// first. A second tab of the first context is the same device and needs no
// code. Every wait has a deadline; nothing sleeps.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleCli, startCli, type CliProcess } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { createServer, openFsBackend, silentLogger } from "../src/index.js";
import { cleanup, tempDir } from "./helpers/server.js";

const START = fileURLToPath(new URL("../demo/start.mjs", import.meta.url));
const WAIT = { timeout: 20_000 };

let proc: CliProcess | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (proc && proc.child.exitCode === null) {
    proc.child.kill("SIGTERM");
    await withDeadline(proc.exited, 15_000, "the demo server to stop").catch(() => proc!.child.kill("SIGKILL"));
  }
  await cleanup();
});

/**
 * Starts `node demo/start.mjs` (on `data`, or with no `--data` in `cwd`) and
 * resolves with the page URL (with #token) it prints.
 */
async function startDemo(data: string | undefined, cwd?: string): Promise<{ pageUrl: string; token: string }> {
  const args = data === undefined ? [START, "--port", "0"] : [START, "--data", data, "--port", "0"];
  const child = spawn(process.execPath, args, { stdio: "pipe", ...(cwd !== undefined && { cwd }) });
  const p: CliProcess = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1))),
  };
  proc = p;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (p.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (p.stderr += chunk));
  const pageUrl = await withDeadline(
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const match = /open\s+(http:\/\/\S+\/demo\/#token=\S+)/.exec(p.stderr);
        if (match) resolve(match[1]!);
      };
      child.stderr.on("data", check);
      void p.exited.then((code) => reject(new Error(`demo/start.mjs exited (${code}) before printing its URL: ${p.stderr}`)));
    }),
    60_000,
    "the demo server to print its URL",
  );
  return { pageUrl, token: new URL(pageUrl).hash.slice("#token=".length) };
}

/** Opens the page, failing the test on any page error or console error. */
async function openPage(page: Page, url: string, problems: string[]): Promise<Page> {
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // A GET of an absent object answers 404 by protocol (e.g. a used share code's record); Chromium logs every 404 fetch.
    const absentObject = /status of 404/.test(msg.text()) && /\/v1\/ledgers\/[^/]+\/objects\//.test(msg.location().url);
    if (msg.type() === "error" && !absentObject) problems.push(`console.error: ${msg.text()} at ${msg.location().url}`);
  });
  await page.goto(url);
  return page;
}

const item = (title: string, done?: boolean): string => `#items li${done === undefined ? "" : `[data-done="${done}"]`}:has(.title:text-is("${title}"))`;

describe("npm start's demo page", () => {
  let data: string;
  beforeAll(() => {
    data = tempDir("hearth-demo-");
  });

  it("syncs a shared list between two devices joined by share code, live both ways", async () => {
    const { pageUrl, token } = await startDemo(data);
    expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/demo\/#token=htk_/);
    expect(readFileSync(`${data}/demo-token`, "utf8").trim()).toBe(token);

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--headless=new", "--no-sandbox", "--disable-gpu"] });
    const problems: string[] = [];
    const first = await browser.newContext();
    const second = await browser.newContext();

    // Device 1: the first to attach creates the sync point's key.
    const a = await openPage(await first.newPage(), pageUrl, problems);
    await a.waitForSelector("#list:not([hidden])", WAIT);
    await a.waitForSelector('#status[data-state="idle"]', WAIT);

    // Device 2 (its own IndexedDB and keyring) is not a member: it must join with a code.
    const b = await openPage(await second.newPage(), pageUrl, problems);
    await b.waitForSelector("#join:not([hidden])", WAIT);
    expect(await b.isHidden("#list")).toBe(true);
    await a.click("#share-button");
    await a.waitForSelector("#share-code:text-matches('^hs2-')", WAIT);
    const code = (await a.textContent("#share-code"))!.trim();
    await b.fill("#join-code", code);
    await b.click("#join-button");
    await b.waitForSelector("#list:not([hidden])", WAIT);

    // Add on device 1 → appears on device 2.
    await a.fill("#new-item", "Buy milk");
    await a.press("#new-item", "Enter");
    await a.waitForSelector(item("Buy milk", false), WAIT);
    await b.waitForSelector(item("Buy milk", false), WAIT);

    // Toggle on device 2 → device 1 sees it done.
    await b.check(`${item("Buy milk")} .toggle`);
    await b.waitForSelector(item("Buy milk", true), WAIT);
    await a.waitForSelector(item("Buy milk", true), WAIT);

    // Another tab of device 1's browser context: same keyring, same device, no code needed.
    const a2 = await openPage(await first.newPage(), pageUrl, problems);
    await a2.waitForSelector(item("Buy milk", true), WAIT);
    expect(await a2.isHidden("#join")).toBe(true);
    expect(await a2.textContent("#replica")).not.toBe(await a.textContent("#replica"));
    expect(await a2.textContent("#device")).toBe(await a.textContent("#device"));
    expect(await b.textContent("#device")).not.toBe(await a.textContent("#device"));

    // Delete on device 2 → gone everywhere.
    await b.fill("#new-item", "Fix the bike");
    await b.press("#new-item", "Enter");
    await a.waitForSelector(item("Fix the bike"), WAIT);
    await b.click(`${item("Buy milk")} .delete`);
    await a.waitForSelector(item("Buy milk"), { ...WAIT, state: "detached" });
    await a2.waitForSelector(item("Buy milk"), { ...WAIT, state: "detached" });
    expect(await a.locator("#items li").count()).toBe(1);

    // A used code does not work twice.
    const c = await openPage(await (await browser.newContext()).newPage(), pageUrl, problems);
    await c.waitForSelector("#join:not([hidden])", WAIT);
    await c.fill("#join-code", code);
    await c.click("#join-button");
    await c.waitForSelector("#join-error:not([hidden])", WAIT);

    for (const page of [a, b, a2, c]) expect(await page.isHidden("#error")).toBe(true);
    expect(problems).toEqual([]);
    // The token travels in the fragment and in headers, never in a logged request line.
    expect(proc!.stdout).toContain('"msg":"request"');
    expect(proc!.stdout).not.toContain(token);
  }, 120_000);

  it("reuses the kept token on the next start, and stops cleanly on SIGTERM", async () => {
    const before = readFileSync(`${data}/demo-token`, "utf8").trim();
    proc!.child.kill("SIGTERM");
    expect(await withDeadline(proc!.exited, 15_000, "the demo server to stop")).toBe(0);
    const { token } = await startDemo(data);
    expect(token).toBe(before);
    proc!.child.kill("SIGTERM");
    expect(await withDeadline(proc!.exited, 15_000, "the demo server to stop")).toBe(0);
  }, 90_000);

  it("keeps its data where the hearth CLI looks by default, so a token the CLI mints there works", async () => {
    const cwd = tempDir("hearth-demo-cwd-");
    const { pageUrl } = await startDemo(undefined, cwd);
    expect(readFileSync(join(cwd, "hearth-data", "demo-token"), "utf8").trim()).not.toBe("");
    const cli = await bundleCli(tempDir("hearth-demo-cli-"));
    const minted = startCli(cli, ["token", "create", "--ledger", "mine", "--rights", "rw"], cwd);
    expect(await withDeadline(minted.exited, 20_000, "hearth token create"), minted.stderr).toBe(0);
    const listed = await fetch(`${new URL(pageUrl).origin}/v1/ledgers/mine/list?prefix=`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } });
    expect(listed.status).toBe(200);
    proc!.child.kill("SIGTERM");
    expect(await withDeadline(proc!.exited, 15_000, "the demo server to stop")).toBe(0);
  }, 90_000);
});

describe("static files beside the API (hearth serve --demo)", () => {
  it("serves allowed files under the mount only, never outside the directory", async () => {
    const root = tempDir("hearth-static-");
    const dir = join(root, "site");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "index.html"), "<p>hi</p>");
    writeFileSync(join(dir, "app.js"), "1");
    writeFileSync(join(dir, "sub", "x.css"), "p{}");
    writeFileSync(join(dir, "secret.key"), "no");
    writeFileSync(join(dir, ".hidden.js"), "no");
    writeFileSync(join(root, "outside.js"), "no");
    const server = await createServer({ backend: await openFsBackend(join(root, "data")), logger: silentLogger, staticFiles: { path: "/demo/", dir } });
    try {
      const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, { redirect: "manual", ...init });
      const page = await get("/demo/");
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await page.text()).toBe("<p>hi</p>");
      expect((await get("/demo/app.js")).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(await (await get("/demo/sub/x.css")).text()).toBe("p{}");
      const head = await get("/demo/app.js", { method: "HEAD" });
      expect([head.status, head.headers.get("content-length")]).toEqual([200, "1"]);
      const redirect = await get("/demo");
      expect([redirect.status, redirect.headers.get("location")]).toEqual([308, "/demo/"]);
      for (const path of ["/demo/secret.key", "/demo/.hidden.js", "/demo/%2e%2e/outside.js", "/demo/sub", "/demo/missing.js", "/demo//app.js", "/outside.js"]) {
        const res = await get(path);
        expect([path, res.status]).toEqual([path, 404]);
        expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/NOT_FOUND|INVALID_NAME/);
      }
      expect((await get("/demo/app.js", { method: "PUT", body: "x" })).status).toBe(400);
      expect((await get("/healthz")).status).toBe(200); // the API is untouched
    } finally {
      await server.close();
    }
    await expect(createServer({ backend: undefined as never, staticFiles: { path: "/v1/", dir } })).rejects.toThrow(TypeError);
    await expect(createServer({ backend: undefined as never, staticFiles: { path: "demo", dir } })).rejects.toThrow(TypeError);
  });

  it("serves nothing but the API without the option", async () => {
    const root = tempDir("hearth-static-");
    const server = await createServer({ backend: await openFsBackend(root), logger: silentLogger });
    try {
      const res = await fetch(`${server.url}/demo/index.html`);
      expect(res.status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
