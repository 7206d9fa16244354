// Several tabs of one origin and one ledger, in real headless Chromium
// (part of `npm run test:browser`): the data-loss case of two tabs that
// both open a ledger, each writing over the other, must be impossible.
// These pages open with `tabs: "exclusive"` (the store's lock alone);
// tabs-share.mjs tests the default, one database shared by every tab.
//
// Pages of one browser context (one origin, one IndexedDB, one set of Web
// Locks) run test/browser/tabs-page.ts. Every put a page acknowledges is
// reported here; the checks are on those acknowledgements:
//
// 1. Two pages open one ledger at once: exactly one gets it, the other is
//    LOCKED at once, then waits (`wait: true`) while the holder writes.
// 2. The holder's page is closed in the middle of its writes (as a user
//    closes a tab): the waiting page takes the store over at once and holds
//    every write the closed page acknowledged.
// 3. A third page waits behind the second, which closes its ledger: the
//    third sees every acknowledged write of both.
//
// Prints one line per step and `N passed, N failed`; exits non-zero on any
// failure, page error, or deadline.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { launchChromium, serveBundle } from "./chromium.mjs";
import { stepper } from "./steps.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const { fail, deadline, until, step, expect, runAll } = stepper("tabs", 20_000);

async function main() {
  const served = await serveBundle(join(HERE, "tabs-page.ts"), "Hearth tabs test", fail);
  if (!served) return;
  const { server, url } = served;
  let browser;
  try {
    browser = await launchChromium();
    const context = await browser.newContext();
    /** Every acknowledged put, by page label. */
    const acked = new Map();
    await context.exposeBinding("__hearthAck", ({ page }, id) => {
      const label = labels.get(page);
      if (!acked.has(label)) acked.set(label, []);
      acked.get(label).push(id);
    });
    const labels = new Map();
    const closing = new Set();
    const newTab = async (label) => {
      const page = await context.newPage();
      labels.set(page, label);
      page.on("pageerror", (err) => fail(`page error in tab ${label}`, err.stack ?? err.message));
      page.on("console", (msg) => {
        if (msg.type() === "error" && !closing.has(page)) fail(`console.error in tab ${label}`, msg.text());
      });
      await page.goto(url);
      await page.waitForFunction(() => globalThis.hearthTab !== undefined);
      return page;
    };
    const call = (page, method, ...args) => page.evaluate(([m, a]) => globalThis.hearthTab[m](...a), [method, args]);
    const ackedBy = (label) => acked.get(label) ?? [];
    const name = `tabs-${Date.now().toString(36)}`;

    let holder;
    let other;
    let otherOpen;
    await step("two pages open one ledger at once: one gets it, the other is LOCKED at once", async () => {
      const [a, b] = await Promise.all([newTab("A"), newTab("B")]);
      const [resultA, resultB] = await deadline(Promise.all([call(a, "open", name, false), call(b, "open", name, false)]), "both opens");
      const results = [resultA, resultB];
      expect(results.filter((r) => r === "opened").length === 1, `exactly one page opens the ledger, got ${JSON.stringify(results)}`);
      const locked = results.find((r) => r !== "opened");
      expect(locked.startsWith("LOCKED ") && locked.includes("another tab"), `the other is LOCKED, naming another tab: ${locked}`);
      expect(!/delete|remove/i.test(locked), `the message suggests deleting nothing: ${locked}`);
      [holder, other] = resultA === "opened" ? [a, b] : [b, a];
    });

    await step("the other page waits (wait: true) while the holder writes", async () => {
      let opened = false;
      otherOpen = call(other, "open", name, true).then((r) => {
        opened = true;
        return r;
      });
      await deadline(call(holder, "write", labels.get(holder), 20), "the holder's first 20 writes");
      expect(!opened, "the waiting page did not open while the holder lives");
    });

    await step("the holder's page closes mid-write: the waiting page takes over with every acknowledged write", async () => {
      const holderLabel = labels.get(holder);
      const before = ackedBy(holderLabel).length;
      const writing = call(holder, "write", holderLabel, 100_000).catch(() => "closed"); // runs until the page goes
      await until(() => ackedBy(holderLabel).length >= before + 40, "40 more acknowledged writes");
      closing.add(holder);
      await holder.close(); // the user closes the tab; no ledger.close()
      expect((await writing) === "closed", "the holder was still writing when its page closed");
      expect((await deadline(otherOpen, "the waiting page to open")) === "opened", "the waiting page opened");
      const ids = new Set(await call(other, "ids"));
      const lost = ackedBy(holderLabel).filter((id) => !ids.has(id));
      expect(lost.length === 0, `${lost.length} of ${ackedBy(holderLabel).length} acknowledged writes of the closed page are missing: ${lost.slice(0, 5).join(", ")}`);
      console.log(`    (the closed page acknowledged ${ackedBy(holderLabel).length} writes; all are there)`);
    });

    await step("a third page waits behind the second; when it closes, the third has every acknowledged write", async () => {
      const third = await newTab("C");
      let opened = false;
      const thirdOpen = call(third, "open", name, true).then((r) => {
        opened = true;
        return r;
      });
      await deadline(call(other, "write", labels.get(other), 20), "the second page's 20 writes");
      expect(!opened, "the third page waited while the second held the ledger");
      await call(other, "close");
      expect((await deadline(thirdOpen, "the third page to open")) === "opened", "the third page opened");
      const ids = new Set(await call(third, "ids"));
      const all = [...acked.values()].flat();
      const lost = all.filter((id) => !ids.has(id));
      expect(lost.length === 0, `${lost.length} of ${all.length} acknowledged writes are missing: ${lost.slice(0, 5).join(", ")}`);
      await call(third, "close");
    });
  } catch {
    // the failing step reported itself
  } finally {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  }
}

await runAll(main);
