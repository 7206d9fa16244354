/**
 * One database for a page and a dedicated worker of its origin
 * (`tabs-worker.mjs`): this one script runs as the page and, started by
 * it as a module worker, as the worker. The page opens the ledger first
 * (it owns it); the worker's `open` uses it through the page; writes in
 * either reach the other's subscription; when the page closes its ledger,
 * the worker takes the store over, and the page, opening again, uses it
 * through the worker.
 *
 * @module
 */
import { open } from "../../src/index.browser.js";
import type { Ledger } from "../../src/ledger/ledger.js";
import { runCases } from "./page-cases.js";

const NAME = "worker-shared";
const options = { store: `indexeddb://${NAME}`, keyring: `indexeddb://${NAME}-keyring` };

/** Waits until `check()` holds (every 5 ms), or fails naming `what` after 15 s. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function heard(db: Ledger): Set<string> {
  const ids = new Set<string>();
  db.subscribe((docs) => docs.forEach((d) => ids.add(d._id)));
  return ids;
}

if (typeof document === "undefined") {
  // The worker: does what the page asks, one message at a time.
  let db: Ledger | undefined;
  let ids = new Set<string>();
  const post = (message: unknown): void => (self as unknown as Worker).postMessage(message);
  self.onmessage = async (event: MessageEvent<{ op: string; prefix?: string; count?: number; want?: string[] }>) => {
    const m = event.data;
    try {
      if (m.op === "open") {
        db = await open(NAME, options);
        ids = heard(db);
      } else if (m.op === "write") {
        for (let i = 0; i < m.count!; i++) await db!.put({ _id: `${m.prefix}-${i}` });
      } else if (m.op === "heard") {
        await until(() => m.want!.every((id) => ids.has(id)), `the worker to hear ${m.want!.length} writes`);
      } else if (m.op === "ids") {
        post({ ok: true, value: (await db!.allDocs()).rows.map((r) => r.key) });
        return;
      }
      post({ ok: true });
    } catch (err) {
      post({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  };
} else {
  void runCases([
    {
      name: "a page and a dedicated worker share one database; the worker takes over when the page closes it",
      run: async () => {
        const worker = new Worker("/entry.js", { type: "module" });
        const ask = (message: unknown): Promise<unknown> =>
          new Promise((resolve, reject) => {
            worker.onmessage = (event: MessageEvent<{ ok: boolean; value?: unknown; error?: string }>) =>
              event.data.ok ? resolve(event.data.value) : reject(new Error(event.data.error));
            worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
            worker.postMessage(message);
          });
        let db = await open(NAME, options); // first: the page owns it
        const pageHeard = heard(db);
        await ask({ op: "open" }); // the worker uses it through the page
        await ask({ op: "write", prefix: "w", count: 10 });
        const fromWorker = Array.from({ length: 10 }, (_, i) => `w-${i}`);
        await until(() => fromWorker.every((id) => pageHeard.has(id)), "the page to hear the worker's writes");
        for (let i = 0; i < 10; i++) await db.put({ _id: `p-${i}` });
        const fromPage = Array.from({ length: 10 }, (_, i) => `p-${i}`);
        await ask({ op: "heard", want: fromPage });
        // The page lets go: the worker takes the store over; the page, opening again, uses the worker's.
        await db.close();
        await ask({ op: "write", prefix: "after", count: 5 });
        db = await open(NAME, options);
        const all = new Set((await db.allDocs()).rows.map((r) => r.key));
        const expected = [...fromWorker, ...fromPage, ...Array.from({ length: 5 }, (_, i) => `after-${i}`)];
        const missing = expected.filter((id) => !all.has(id));
        if (missing.length > 0) throw new Error(`the page lacks ${missing.join(", ")}`);
        await db.put({ _id: "page-again" });
        await ask({ op: "heard", want: ["page-again"] });
        await db.close();
        worker.terminate();
      },
    },
  ]);
}
