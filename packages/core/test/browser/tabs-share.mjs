// One database per origin, in real headless Chromium (part of `npm run test:browser`):
// pages of one browser context open one ledger the default way and use it as one
// database (tabs-share-page.ts is each page's script).
//
// 1. One page opens the ledger (so it owns it), then two more at once: all open (none
//    is LOCKED).
// 2. Writes made in one tab reach every other tab's subscription; the delay from the
//    write to each other tab's notification is printed (the goal is under 50 ms).
// 3. The owner's page closes (as a user closes a tab) while another tab writes: that
//    tab's writes go on through the tab that takes over, and every write any tab
//    acknowledged is there, in every tab.
// 4. Two tabs attach the same sync point: the owner makes one attachment, and both
//    tabs see it in sync.
// 5. Online: a new owner, two tabs attached to a real sync server (`hearth serve`,
//    started here on a loopback port, behind a proxy that counts its WebSocket
//    connections: the second tab adds none); the owner's page closes while another
//    tab writes, and the tab that takes over attaches again and pushes every write.
// 6. A frozen owner (Chromium's page lifecycle, through CDP): the other tab's writes
//    wait, and complete when the owner resumes, or, when the frozen tab is discarded,
//    through the tab that takes over.
//
// Prints one line per step and `N passed, N failed`; exits non-zero on any failure,
// page error, or deadline.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { createServer, openFsBackend, silentLogger } from "@hearth/server";
import { launchChromium, serveBundle } from "./chromium.mjs";
import { stepper } from "./steps.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const { fail, deadline, until, step, expect, runAll } = stepper("tabs (shared)", 30_000);

/**
 * A TCP proxy in front of the sync server on 127.0.0.1 that counts the WebSocket
 * connections open through it (the sync engine's watches): how many the origin's
 * tabs hold at the server.
 */
async function socketCounter(target) {
  let open = 0;
  let peak = 0;
  const sockets = new Set();
  const proxy = createTcpServer((client) => {
    const upstream = connect(Number(new URL(target).port), "127.0.0.1");
    sockets.add(client).add(upstream);
    let counted = false;
    client.once("data", (first) => {
      if (/^upgrade: websocket/im.test(first.toString("latin1"))) {
        counted = true;
        open++;
        peak = Math.max(peak, open);
      }
      upstream.write(first);
      client.pipe(upstream);
    });
    upstream.pipe(client);
    const end = () => {
      if (counted) open--;
      counted = false;
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => proxy.close(resolve));
  };
  return { url: `http://127.0.0.1:${proxy.address().port}`, open: () => open, peak: () => peak, close };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const served = await serveBundle(join(HERE, "tabs-share-page.ts"), "Hearth shared tabs test", fail);
  if (!served) return;
  const { server, url } = served;
  let browser;
  try {
    browser = await launchChromium();
    const context = await browser.newContext();
    const acked = new Map();
    const labels = new Map();
    const closing = new Set();
    await context.exposeBinding("__hearthAck", ({ page }, id) => {
      const label = labels.get(page);
      if (!acked.has(label)) acked.set(label, []);
      acked.get(label).push(id);
    });
    const newTab = async (label) => {
      const page = await context.newPage();
      labels.set(page, label);
      page.on("pageerror", (err) => fail(`page error in tab ${label}`, err.stack ?? err.message));
      page.on("console", (msg) => {
        // Chromium logs every HTTP error status of a fetch as a console error; a 404 from the
        // sync server (a name collected meanwhile) is an answer, not a failure of the page.
        if (msg.type() === "error" && !closing.has(page) && !/^Failed to load resource: .*status of 404/.test(msg.text())) fail(`console.error in tab ${label}`, msg.text());
      });
      await page.goto(url);
      await page.waitForFunction(() => globalThis.hearthTab !== undefined);
      return page;
    };
    const call = (page, method, ...args) => page.evaluate(([m, a]) => globalThis.hearthTab[m](...a), [method, args]);
    const name = `shared-${Date.now().toString(36)}`;
    let a;
    let b;
    let c;

    await step("one page opens the ledger (it owns it), then two more at once: all open, none is LOCKED", async () => {
      [a, b, c] = await Promise.all([newTab("A"), newTab("B"), newTab("C")]);
      expect((await deadline(call(a, "open", name), "A's open")) === "opened", "A opened");
      const results = await deadline(Promise.all([b, c].map((p) => call(p, "open", name))), "two opens at once");
      expect(results.every((r) => r === "opened"), `both open, got ${JSON.stringify(results)}`);
    });

    await step("a write in any tab reaches every other tab's subscription", async () => {
      for (const [writer, label] of [[a, "A"], [b, "B"], [c, "C"]]) await deadline(call(writer, "write", `w${label}`, 20), `${label}'s writes`);
      const delays = [];
      for (const [page, label] of [[a, "A"], [b, "B"], [c, "C"]]) {
        await until(async () => (await call(page, "heard")).length >= 60, `tab ${label} to hear all 60 writes`);
        const heard = await call(page, "heard");
        const ids = new Set(heard.map(([id]) => id));
        expect(["wA", "wB", "wC"].every((p) => Array.from({ length: 20 }, (_, i) => `${p}-${String(i).padStart(5, "0")}`).every((id) => ids.has(id))), `tab ${label} heard every write`);
        for (const [id, ms] of heard) if (!id.startsWith(`w${label}`)) delays.push(ms);
      }
      console.log(`    (write → another tab's subscription: p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${Math.max(...delays)} ms over ${delays.length})`);
    });

    await step("the owner's page closes while another tab writes: the writes go on, and every acknowledged write is in every tab", async () => {
      const before = (acked.get("B") ?? []).length;
      const writing = call(b, "write", "long", 400);
      await until(() => (acked.get("B") ?? []).length >= before + 30, "30 of B's writes");
      closing.add(a);
      await a.close(); // no ledger.close(): the tab goes
      expect((await deadline(writing, "B's writes to finish")) === 400, "B wrote all 400");
      const all = [...acked.values()].flat();
      for (const [page, label] of [[b, "B"], [c, "C"]]) {
        const ids = new Set(await call(page, "ids"));
        const lost = all.filter((id) => !ids.has(id));
        expect(lost.length === 0, `tab ${label} lacks ${lost.length} of ${all.length} acknowledged writes: ${lost.slice(0, 5).join(", ")}`);
      }
      console.log(`    (${all.length} acknowledged writes, all in both remaining tabs)`);
    });

    await step("two tabs attach one sync point: one attachment at the owner, in sync in both", async () => {
      const point = `memory://point-${name}`;
      const [sb, sc] = await deadline(Promise.all([call(b, "attach", point), call(c, "attach", point)]), "both attaches");
      expect(sb === "idle" && sc === "idle", `both in sync, got ${sb}, ${sc}`);
      for (const [page, label] of [[b, "B"], [c, "C"]]) {
        const list = await call(page, "attachments");
        expect(list.length === 1 && list[0].url === point, `tab ${label} sees one attachment to the point, got ${JSON.stringify(list)}`);
      }
      await call(b, "close");
      await call(c, "close");
    });

    await step("online: the owner's page closes while another tab writes; the new owner attaches the sync server again and pushes every write", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "hearth-tabs-server-"));
      const proxies = [];
      const backend = await openFsBackend(dataDir, { fsync: false });
      const sync = await createServer({ backend, port: 0, logger: silentLogger });
      try {
        const ledger = `${name}-online`;
        const { token } = await backend.tokens.create({ ledger, rights: "read-write" });
        const counter = await socketCounter(sync.url);
        proxies.push(counter);
        const point = `${counter.url}/${ledger}?token=${token}`;
        const [d, e] = [await newTab("D"), await newTab("E")];
        expect((await call(d, "open", ledger)) === "opened", "D opened (and owns it)");
        expect((await call(e, "open", ledger)) === "opened", "E opened");
        // One attachment watches three prefixes (head/, file/, m/), each on its own socket.
        const PER_ATTACHMENT = 3;
        await deadline(call(d, "attach", point), "D's attach");
        await until(() => counter.open() === PER_ATTACHMENT, `D's ${PER_ATTACHMENT} watch connections`);
        await deadline(call(e, "attach", point), "E's attach");
        await deadline(call(e, "synced"), "E in sync");
        expect(counter.open() === PER_ATTACHMENT && counter.peak() === PER_ATTACHMENT, `the server sees one tab's connections: ${counter.open()} open (at most ${counter.peak()}) with two tabs attached`);
        console.log(`    (watch connections at the server with two tabs attached: ${counter.open()}, at most ${counter.peak()}: one attachment's)`);
        const before = (acked.get("E") ?? []).length;
        const writing = call(e, "write", "online", 300);
        await until(() => (acked.get("E") ?? []).length >= before + 30, "30 of E's writes");
        closing.add(d);
        await d.close();
        expect((await deadline(writing, "E's writes to finish")) === 300, "E wrote all 300");
        const pending = await deadline(call(e, "synced"), "E's sync point to be in sync");
        expect(pending.length === 1 && pending[0] === 0, `everything pushed from E's side, got pending ${JSON.stringify(pending)}`);
        const ids = new Set(await call(e, "ids"));
        const lost = (acked.get("E") ?? []).filter((id) => !ids.has(id));
        expect(lost.length === 0, `E lacks ${lost.length} of its acknowledged writes`);
        await call(e, "close");
      } finally {
        for (const p of proxies.splice(0)) await p.close();
        await sync.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    await step("a frozen owner: the other tab's calls wait (nothing is refused), and are answered when the owner resumes, or by the tab that takes over when the frozen one is discarded", async () => {
      const ledger = `${name}-frozen`;
      const [f, g] = [await newTab("F"), await newTab("G")];
      expect((await call(f, "open", ledger)) === "opened", "F opened (and owns it)");
      expect((await call(g, "open", ledger)) === "opened", "G opened");
      const cdp = await context.newCDPSession(f);
      const ackedByG = () => (acked.get("G") ?? []).length;
      // Frozen, then resumed.
      await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
      const first = call(g, "write", "frozen-a", 10);
      await cdp.send("Page.setWebLifecycleState", { state: "active" });
      expect((await deadline(first, "G's writes after F resumed")) === 10, "G wrote 10 once F resumed");
      // Frozen, then discarded (closed while frozen).
      const before = ackedByG();
      await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
      const second = call(g, "write", "frozen-b", 10);
      closing.add(f);
      await f.close();
      expect((await deadline(second, "G's writes after F was discarded")) === 10, "G wrote 10 more through the tab that took over");
      const ids = new Set(await call(g, "ids"));
      const mine = (acked.get("G") ?? []).slice(0);
      const lost = mine.filter((id) => !ids.has(id));
      expect(lost.length === 0 && ackedByG() === before + 10, `G's acknowledged writes are all there (${lost.length} missing)`);
      await call(g, "close");
    });
  } catch {
    // the failing step reported itself
  } finally {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  }
}

await runAll(main);
