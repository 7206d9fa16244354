/**
 * `@hearth/core` for browsers: everything in the shared entry plus `open`
 * (IndexedDB by default) and the IndexedDB store and keyring.
 *
 * @module
 */
import { openShared } from "./tabs/open-shared.js";
import { browserPlatform } from "./platform/browser.js";
import type { Ledger } from "./ledger/ledger.js";
import type { OpenOptions } from "./ledger/types.js";

export * from "./index.js";
export { openIndexedDbStore } from "./store/indexeddb.js";
export { openIndexedDbKeyring } from "./keyring/indexeddb.js";

/**
 * Opens (creating if needed) the ledger `name`, by default in IndexedDB
 * database `hearth-<name>` with the device keyring `indexeddb://hearth-keyring`.
 *
 * One database per origin: when another tab or worker of this origin has
 * the ledger open, this one uses it through that tab (writes, reads,
 * subscriptions and sync points are the owner's; every tab's
 * subscriptions hear every write) and takes over when the owner goes,
 * losing no acknowledged write (`tabs/`). With `tabs: "exclusive"`, another
 * tab's ledger is `LOCKED` instead (or, with `wait`, waited for). Within
 * one page, opening it again returns another handle onto the same ledger
 * (as in Node).
 *
 * @throws HearthError `KEY_REQUIRED`, `LOCKED` (`tabs: "exclusive"`), `INVALID_URL` as in Node;
 *   `STORAGE_FAILED` where the page has no Web Locks (not a secure context)
 * @example
 * ```ts
 * const db = await open("todos");                  // in every tab: one database
 * db.subscribe((docs) => render(docs));            // hears writes made in any tab
 * ```
 */
export function open(name: string, options: OpenOptions = {}): Promise<Ledger> {
  return openShared(name, options, browserPlatform);
}
