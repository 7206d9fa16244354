// The app behind `npm start`, end to end: `demo/start.mjs` as a child
// process (it builds the page, mints the token, runs `hearth serve --demo`)
// and the page in headless Chromium (Debian's, via playwright-core). Two
// SEPARATE browser contexts are two devices (separate IndexedDB, separate
// keyrings): the second joins with a share code made in the first; a photo
// added on one opens on the other; the second goes offline and back; a
// second tab of the first context is the same device (one database shared
// by its tabs); the first removes the second, which sees it. Screenshots of
// each step are saved ($HEARTH_SCREENSHOTS, else a temp directory; the path
// is printed). Every wait has a deadline; nothing sleeps.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
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

/** The page URL the running demo printed. */
async function startDemoUrl(): Promise<string | undefined> {
  return /open\s+(http:\/\/\S+\/demo\/#token=\S+)/.exec(proc?.stderr ?? "")?.[1];
}

/** Opens the page, failing the test on any page error or console error. */
async function openPage(page: Page, url: string, problems: string[]): Promise<Page> {
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // A GET of an absent object answers 404 by protocol (e.g. a used share code's record); Chromium logs every 404 fetch.
    const absentObject = /status of 404/.test(msg.text()) && /\/v1\/ledgers\/[^/]+\/objects\//.test(msg.location().url);
    // Chromium logs each request a context set offline could not make: the test turns the network off on purpose.
    const offline = /net::ERR_INTERNET_DISCONNECTED/.test(msg.text());
    if (msg.type() === "error" && !absentObject && !offline) problems.push(`console.error: ${msg.text()} at ${msg.location().url}`);
  });
  await page.goto(url);
  return page;
}

/** The row of item `title` (optionally done or not). */
const item = (title: string, done?: boolean): string => `li.item[data-title="${title}"]${done === undefined ? "" : `[data-done="${done}"]`}`;

/** A small real PNG (2×2 pixels, orange), as a user's photo. */
const PNG = (() => {
  const chunk = (type: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, "latin1"), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([head, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(2, 0); // width
  header.writeUInt32BE(2, 4); // height
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.from([0, 0xe0, 0x7a, 0x3c, 0xe0, 0x7a, 0x3c]); // filter 0, two pixels
  return Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), chunk("IHDR", header), chunk("IDAT", deflateSync(Buffer.concat([row, row]))), chunk("IEND", Buffer.alloc(0))]);
})();

describe("npm start's app", () => {
  let data: string;
  let shots: string;
  beforeAll(() => {
    data = tempDir("hearth-demo-");
    // Kept after the run (not a temp dir the test cleans up): the screenshots are for people to look at.
    shots = process.env.HEARTH_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "hearth-app-screenshots-"));
    mkdirSync(shots, { recursive: true });
  });
  const shoot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  it("devices join by code and by QR link; a photo added on one opens on another; offline and back; two tabs; a device removed", async () => {
    const { pageUrl, token } = await startDemo(data);
    expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/demo\/#token=htk_/);
    expect(readFileSync(`${data}/demo-token`, "utf8").trim()).toBe(token);

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--headless=new", "--no-sandbox", "--disable-gpu"] });
    const problems: string[] = [];
    const first = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const second = await browser.newContext({ viewport: { width: 1200, height: 760 } });

    // Device A: the first to attach founds the sync point.
    const a = await openPage(await first.newPage(), pageUrl, problems);
    await a.waitForSelector('[aria-label="new list"]', WAIT);
    await a.waitForSelector('[data-testid="status"]:text-is("synced")', WAIT);
    await a.fill('[aria-label="new list"]', "Groceries");
    await a.press('[aria-label="new list"]', "Enter");
    await a.waitForSelector('h2:text-is("Groceries")', WAIT);
    await a.fill('[aria-label="new item"]', "Buy milk");
    await a.press('[aria-label="new item"]', "Enter");
    await a.waitForSelector(item("Buy milk", false), WAIT);

    // Device B (its own IndexedDB and keyring) is not a member: it joins with a code made on A.
    const b = await openPage(await second.newPage(), pageUrl, problems);
    await b.waitForSelector('[data-testid="join"]', WAIT);
    await shoot(b, "1-join");
    await a.click('button:text-is("Invite a device")');
    const code = (await (await a.waitForSelector('[data-testid="share-code"] code', WAIT)).textContent())!.trim();
    expect(code).toMatch(/^hs2-/);
    await shoot(a, "2-invite");
    await b.fill('[aria-label="share code"]', code);
    await b.click('button:text-is("Join")');
    await b.waitForSelector(item("Buy milk", false), WAIT);
    await a.waitForSelector('[data-testid="share-code"]', { ...WAIT, state: "detached" }); // the used code leaves A's screen
    expect(await b.locator('[data-testid="member"]').count()).toBe(2);

    // An invitation by QR code: the code holds a link with the token and a fresh code; a third device opening it joins at once.
    await a.click('button:text-is("Invite a device")');
    const qr = await a.waitForSelector('img[data-testid="invite-qr"]', WAIT);
    await a.waitForFunction((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0, qr, WAIT);
    const link = (await a.getAttribute('[data-testid="invite-link"]', "href"))!;
    expect(link).toMatch(/#token=htk_.*&code=hs2-/);
    const d = await openPage(await (await browser.newContext()).newPage(), link, problems);
    await d.waitForSelector(item("Buy milk", false), WAIT);
    expect(await d.evaluate(() => location.hash)).not.toContain("code="); // a used code leaves the address
    await a.waitForFunction(() => document.querySelectorAll('[data-testid="member"]').length === 3, undefined, WAIT);

    // A photo added on A opens on B (fetched from the sync point, decrypted there).
    await a.setInputFiles('input[aria-label="photo for Buy milk"]', { name: "milk.png", mimeType: "image/png", buffer: PNG });
    await a.waitForSelector('img[alt="photo of Buy milk"]', WAIT);
    await b.waitForSelector('img[alt="photo of Buy milk"]', WAIT);
    await b.click('button[aria-label="open the photo of Buy milk"]');
    const full = await b.waitForSelector('img[alt="photo of Buy milk, full size"]', WAIT);
    await b.waitForFunction((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth === 2, full, WAIT);
    await shoot(b, "3-photo-on-the-other-device");
    await b.click('[role="dialog"]');

    // B offline: it keeps working, says so, and catches up when back.
    await second.setOffline(true);
    await b.fill('[aria-label="new item"]', "Eggs");
    await b.press('[aria-label="new item"]', "Enter");
    await b.waitForSelector(item("Eggs", false), WAIT);
    await b.waitForSelector('[data-testid="status"]:text-matches("^offline, 1 change waiting")', WAIT);
    await shoot(b, "4-offline");
    // Meanwhile both devices change "Buy milk": B (offline) ticks it, A renames nothing but ticks it too, concurrently.
    await b.check('input[aria-label="done: Buy milk"]');
    await a.check('input[aria-label="done: Buy milk"]');
    await second.setOffline(false);
    await b.waitForSelector('[data-testid="status"]:text-is("synced")', { timeout: 60_000 });
    await a.waitForSelector(item("Eggs", false), WAIT);
    // Written on two devices at once: both show it, and either keeps one version, which ends it everywhere.
    await a.waitForSelector(`${item("Buy milk")} [data-testid="conflict"]`, WAIT);
    await b.waitForSelector(`${item("Buy milk")} [data-testid="conflict"]`, WAIT);
    await shoot(a, "4b-conflict");
    await a.click(`${item("Buy milk")} [data-testid="conflict"] button`);
    await a.waitForSelector(`${item("Buy milk")} [data-testid="conflict"]`, { ...WAIT, state: "detached" });
    await b.waitForSelector(`${item("Buy milk")} [data-testid="conflict"]`, { ...WAIT, state: "detached" });
    await b.waitForSelector(item("Buy milk", true), WAIT);

    // A second tab of device A: the same database, no code; a toggle there shows in A's first tab and on B.
    const a2 = await openPage(await first.newPage(), pageUrl, problems);
    await a2.waitForSelector(item("Eggs", false), WAIT);
    expect(await a2.isVisible('[data-testid="join"]')).toBe(false);
    expect(await a2.textContent('[data-testid="device"]')).toBe(await a.textContent('[data-testid="device"]'));
    expect(await b.textContent('[data-testid="device"]')).not.toBe(await a.textContent('[data-testid="device"]'));
    await a2.check('input[aria-label="done: Eggs"]');
    await a.waitForSelector(item("Eggs", true), WAIT);
    await b.waitForSelector(item("Eggs", true), WAIT);
    await shoot(a2, "5-second-tab");

    // A removes B: B sees it, and new items no longer reach it.
    const bDevice = (await b.textContent('[data-testid="device"]'))!.trim();
    a.once("dialog", (dialog) => void dialog.accept());
    await a.click(`button[aria-label="remove ${bDevice}"]`);
    await a.waitForFunction(() => document.querySelectorAll('[data-testid="member"]').length === 2, undefined, WAIT);
    await b.waitForSelector('[data-testid="removed"]', WAIT);
    await b.waitForSelector('[data-testid="status"]:text-matches("removed")', WAIT);
    await a.fill('[aria-label="new item"]', "After the removal");
    await a.press('[aria-label="new item"]', "Enter");
    await a2.waitForSelector(item("After the removal"), WAIT);
    await a.waitForSelector('[data-testid="status"]:text-is("synced")', WAIT);
    expect(await b.locator(item("After the removal")).count()).toBe(0);
    await shoot(b, "6-removed");

    // A used code does not work twice.
    const c = await openPage(await (await browser.newContext()).newPage(), pageUrl, problems);
    await c.waitForSelector('[data-testid="join"]', WAIT);
    await c.fill('[aria-label="share code"]', code);
    await c.click('button:text-is("Join")');
    await c.waitForSelector('[data-testid="join-error"]', WAIT);

    await d.waitForSelector(item("After the removal"), WAIT); // the device that stayed gets new items
    for (const page of [a, a2, c, d]) expect(await page.locator('.banner.error').count()).toBe(0);
    expect(problems).toEqual([]);
    // The token travels in the fragment and in headers, never in a logged request line.
    expect(proc!.stdout).toContain('"msg":"request"');
    expect(proc!.stdout).not.toContain(token);
    console.log(`app screenshots: ${shots}`);
  }, 180_000);

  it("a wrong token says so and takes another, instead of connecting forever", async () => {
    const url = new URL((await startDemoUrl())!);
    const good = url.hash.slice("#token=".length);
    url.hash = "#token=htk_wrong";
    const problems: string[] = [];
    const page = await openPage(await (await browser!.newContext()).newPage(), url.toString(), problems);
    await page.waitForSelector('[data-testid="need-token"] h2:text-is("The sync server refused that token")', WAIT);
    await shoot(page, "7-wrong-token");
    await page.fill('[aria-label="token"]', good);
    await page.press('[aria-label="token"]', "Enter");
    await page.waitForSelector('[data-testid="join"]', WAIT); // accepted: this new device is simply not a member
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  }, 60_000);

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
