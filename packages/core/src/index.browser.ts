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
 * @throws HearthError `KEY_REQUIRED`, `LOCKED`, `INVALID_URL` as in Node
 */
export function open(name: string, options: OpenOptions = {}): Promise<Ledger> {
  return openLedger(name, options, browserPlatform);
}
