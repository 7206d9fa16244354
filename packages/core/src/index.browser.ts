/**
 * `@hearth/core` for browsers: everything in the shared entry plus `open`
 * (IndexedDB by default) and the IndexedDB store and keyring.
 *
 * @module
 */
import { openLedger } from "./ledger/open.js";
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
 * One tab or worker of an origin holds a ledger's store at a time (a Web
 * Lock): another gets `LOCKED`, or with `wait: true` waits and takes over
 * when the holder closes it or its page goes away. Within one page, opening
 * it again returns another handle onto the same ledger (as in Node).
 *
 * @throws HearthError `KEY_REQUIRED`, `LOCKED`, `INVALID_URL` as in Node;
 *   `STORAGE_FAILED` where the page has no Web Locks (not a secure context)
 * @example
 * ```ts
 * let db: Ledger;
 * try {
 *   db = await open("todos");
 * } catch (err) {
 *   if (!isHearthError(err, "LOCKED")) throw err;
 *   showBanner("Todos is open in another tab; it will continue here when that tab closes.");
 *   db = await open("todos", { wait: true });
 * }
 * ```
 */
export function open(name: string, options: OpenOptions = {}): Promise<Ledger> {
  return openLedger(name, options, browserPlatform);
}
