/**
 * The browser platform: memory and IndexedDB stores and keyrings; ledgers in
 * `indexeddb://hearth-<name>`, the device keyring in
 * `indexeddb://hearth-keyring`. Values are compressed before sealing with
 * fflate ({@link ../crypto/compression-browser}), as Node does with zlib.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { parseLocation } from "../url.js";
import { openMemoryStore } from "../store/memory.js";
import { openIndexedDbStore } from "../store/indexeddb.js";
import { openMemoryKeyring } from "../keyring/memory.js";
import { openIndexedDbKeyring, DEFAULT_INDEXEDDB_KEYRING_URL } from "../keyring/indexeddb.js";
import { openMemoryRemote } from "../remote/memory.js";
import { openHttpRemote } from "../remote/http.js";
import { isHttpUrl } from "../remote/http-url.js";
import { browserCompression } from "../crypto/compression-browser.js";
import type { Platform } from "./types.js";

/** The browser {@link Platform}. */
export const browserPlatform: Platform = {
  compression: browserCompression,
  defaultStoreUrl: (name) => `indexeddb://hearth-${encodeURIComponent(name)}`,
  defaultKeyringUrl: (storeUrl) => (parseLocation(storeUrl, "store").scheme === "memory" ? "memory://device" : DEFAULT_INDEXEDDB_KEYRING_URL),
  async openStore(url, options = {}) {
    const location = parseLocation(url, "store");
    if (location.scheme === "memory") return openMemoryStore(url);
    if (location.scheme === "indexeddb") return openIndexedDbStore(url, options);
    throw new HearthError("INVALID_URL", `store URL ${JSON.stringify(url)}: browsers have no file system; use indexeddb://name or memory://name`);
  },
  async openKeyring(url) {
    const location = parseLocation(url, "keyring");
    if (location.scheme === "memory") return openMemoryKeyring(url);
    if (location.scheme === "indexeddb") return openIndexedDbKeyring(url);
    throw new HearthError("INVALID_URL", `keyring URL ${JSON.stringify(url)}: browsers have no file system; use indexeddb://name or memory://name`);
  },
  async openRemote(url) {
    if (typeof url === "string" && isHttpUrl(url)) return openHttpRemote(url);
    if (parseLocation(url, "sync point").scheme === "memory") return openMemoryRemote(url);
    throw new HearthError("INVALID_URL", `sync point URL ${JSON.stringify(url)}: in browsers use http(s)://host:port/<ledger>?token=… or memory://name (or pass a Remote object)`);
  },
};
