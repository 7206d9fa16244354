/**
 * The Node platform: memory and file stores and keyrings; ledgers under
 * `$HEARTH_DIR` (default `~/.hearth`), the device keyring in
 * `$HEARTH_DIR/keyring`.
 *
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { HearthError } from "../errors.js";
import { parseLocation } from "../url.js";
import { openMemoryStore } from "../store/memory.js";
import { openFileStore } from "../store/file.js";
import { openMemoryKeyring } from "../keyring/memory.js";
import { openFileKeyring } from "../keyring/file.js";
import { nodeCipher } from "../crypto/cipher-node.js";
import type { Platform } from "./types.js";

/** The directory default ledgers and the device keyring live in. */
export function hearthDir(): string {
  return process.env.HEARTH_DIR || join(homedir(), ".hearth");
}

/** The Node {@link Platform}. */
export const nodePlatform: Platform = {
  cipher: nodeCipher,
  defaultStoreUrl: (name) => pathToFileURL(join(hearthDir(), encodeURIComponent(name))).href,
  defaultKeyringUrl: (storeUrl) =>
    parseLocation(storeUrl, "store").scheme === "memory" ? "memory://device" : pathToFileURL(join(hearthDir(), "keyring")).href,
  async openStore(url) {
    const location = parseLocation(url, "store");
    if (location.scheme === "memory") return openMemoryStore(url);
    if (location.scheme === "file") return openFileStore(location.path);
    throw new HearthError("INVALID_URL", `store URL ${JSON.stringify(url)}: IndexedDB exists only in browsers; in Node use file:///dir or memory://name`);
  },
  async openKeyring(url) {
    const location = parseLocation(url, "keyring");
    if (location.scheme === "memory") return openMemoryKeyring(url);
    if (location.scheme === "file") return openFileKeyring(location.path);
    throw new HearthError("INVALID_URL", `keyring URL ${JSON.stringify(url)}: IndexedDB exists only in browsers; in Node use file:///dir or memory://name`);
  },
};
