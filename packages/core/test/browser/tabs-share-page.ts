/**
 * The page script of the shared-tabs test (`tabs-share.mjs`): each page is
 * one tab of an app that opens a ledger the default way (shared by every
 * tab of the origin). The runner drives it through `window.hearthTab`;
 * each acknowledged put is reported through `__hearthAck` only after
 * `put` resolved.
 *
 * @module
 */
import { open } from "../../src/index.browser.js";
import type { Ledger } from "../../src/ledger/ledger.js";

declare global {
  var __hearthAck: ((id: string) => Promise<void>) | undefined;
}

interface SharedTabControls {
  open(name: string): Promise<string>;
  write(prefix: string, count: number): Promise<number>;
  ids(): Promise<string[]>;
  /** Ids heard through this tab's subscription, with how long after the write each arrived (ms). */
  heard(): Array<[string, number]>;
  attach(url: string): Promise<string>;
  /** Waits until every attachment of this tab is in sync; returns each one's pending count. */
  synced(): Promise<number[]>;
  attachments(): Promise<Array<{ url: string; state: string }>>;
  close(): Promise<void>;
}

let db: Ledger | undefined;
const heard: Array<[string, number]> = [];

(globalThis as unknown as { hearthTab: SharedTabControls }).hearthTab = {
  async open(name) {
    db = await open(name, { store: `indexeddb://${name}`, keyring: `indexeddb://${name}-keyring` });
    db.subscribe((docs) => {
      const now = Date.now();
      for (const doc of docs) {
        const at = (doc as { at?: unknown }).at;
        if (typeof at === "number") heard.push([doc._id, now - at]);
      }
    });
    return "opened";
  },
  async write(prefix, count) {
    const ledger = db;
    if (!ledger) throw new Error("not open");
    for (let i = 0; i < count; i++) {
      const id = `${prefix}-${String(i).padStart(5, "0")}`;
      await ledger.put({ _id: id, tab: prefix, i, at: Date.now() });
      await globalThis.__hearthAck?.(id);
    }
    return count;
  },
  async ids() {
    if (!db) throw new Error("not open");
    return (await db.allDocs()).rows.map((row) => row.key);
  },
  heard: () => heard,
  async attach(url) {
    if (!db) throw new Error("not open");
    const a = await db.attach(url);
    await a.synced({ timeoutMs: 10_000 });
    return a.status().state;
  },
  async synced() {
    if (!db) throw new Error("not open");
    const all = db.attachments();
    for (const a of all) await a.synced({ timeoutMs: 15_000 });
    return all.map((a) => a.status().pending);
  },
  async attachments() {
    if (!db) throw new Error("not open");
    return db.attachments().map((a) => ({ url: a.url, state: a.status().state }));
  },
  async close() {
    await db?.close();
    db = undefined;
  },
};
