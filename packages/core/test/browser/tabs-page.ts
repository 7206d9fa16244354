/**
 * The page script of the several-tabs test (`tabs.mjs`): each page is one
 * "tab" of an app that opens a shared ledger. It does nothing by itself;
 * the runner drives it through `window.hearthTab`, and each acknowledged
 * put is reported through the `__hearthAck` binding the runner exposes,
 * only after `put` resolved.
 *
 * @module
 */
import { open, isHearthError } from "../../src/index.browser.js";
import type { Ledger } from "../../src/ledger/ledger.js";

declare global {
  var __hearthAck: ((id: string) => Promise<void>) | undefined;
  var hearthTab: TabControls | undefined;
}

/** What the runner can ask a tab to do. */
interface TabControls {
  /** Opens the shared ledger: "opened", or "LOCKED <message>" (without `wait`). */
  open(name: string, wait: boolean): Promise<string>;
  /** Puts `count` documents `<prefix>-<i>` one after another (or until closed), reporting each acknowledgement. */
  write(prefix: string, count: number): Promise<number>;
  /** Every live document id. */
  ids(): Promise<string[]>;
  /** Closes the ledger. */
  close(): Promise<void>;
}

let db: Ledger | undefined;

globalThis.hearthTab = {
  async open(name, wait) {
    try {
      // The lock itself is what this test is about: tabs do not share here.
      db = await open(name, { store: `indexeddb://${name}`, keyring: `indexeddb://${name}-keyring`, wait, tabs: "exclusive" });
      return "opened";
    } catch (err) {
      if (isHearthError(err, "LOCKED")) return `LOCKED ${err.message}`;
      throw err;
    }
  },
  async write(prefix, count) {
    const ledger = db;
    if (!ledger) throw new Error("not open");
    for (let i = 0; i < count; i++) {
      const id = `${prefix}-${String(i).padStart(5, "0")}`;
      await ledger.put({ _id: id, tab: prefix, i });
      await globalThis.__hearthAck?.(id);
    }
    return count;
  },
  async ids() {
    if (!db) throw new Error("not open");
    return (await db.allDocs()).rows.map((row) => row.key);
  },
  async close() {
    await db?.close();
    db = undefined;
  },
};
