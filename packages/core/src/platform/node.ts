/**
 * The Node platform: memory and file stores and keyrings; ledgers under
 * `$HEARTH_DIR` (default `~/.hearth`), the device keyring in
 * `$HEARTH_DIR/.keyring`.
 *
 * @module
 */
import { hash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { HearthError } from "../errors.js";
import { parseLocation } from "../url.js";
import { openMemoryStore } from "../store/memory.js";
import { openFileStore } from "../store/file.js";
import { openMemoryKeyring } from "../keyring/memory.js";
import { openFileKeyring } from "../keyring/file.js";
import { openMemoryRemote } from "../remote/memory.js";
import { openFileRemote } from "../remote/file.js";
import { openHttpRemote } from "../remote/http.js";
import { isHttpUrl } from "../remote/http-url.js";
import { nodeCipher } from "../crypto/cipher-node.js";
import { workerSealer } from "../files/chunk-sealer-node.js";
import { nodeCompression } from "../crypto/compression-node.js";
import { nodeSigner } from "../crypto/signing-node.js";
import { useNativeSha256 } from "../codec/block.js";
import type { Platform } from "./types.js";

// Block addresses: Node's one-shot SHA-256 (see useNativeSha256).
useNativeSha256((bytes) => hash("sha256", bytes, "buffer"));

/** The device keyring's directory inside {@link hearthDir}. */
export const KEYRING_DIR = ".keyring";

/** The directory default ledgers and the device keyring live in. */
export function hearthDir(): string {
  return process.env.HEARTH_DIR || join(homedir(), ".hearth");
}

/**
 * The directory a ledger name maps to: the name itself, readable, with only
 * the characters a path cannot hold (separators, control characters, `%`
 * itself) percent-escaped, so distinct names never share a directory. A
 * leading `.` is escaped too, so no ledger can land on the device keyring
 * (`.keyring`) or be hidden.
 */
export function directoryName(name: string): string {
  return name.replace(/^\.|[/\\:%\u0000-\u001f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
}

/** The store URL `open(name)` uses when given no `store`: `$HEARTH_DIR/<directoryName(name)>`. */
export function defaultStoreUrl(name: string): string {
  return pathToFileURL(join(hearthDir(), directoryName(name))).href;
}

/** The Node {@link Platform}. */
export const nodePlatform: Platform = {
  cipher: nodeCipher,
  compression: nodeCompression,
  signer: nodeSigner,
  chunkSealer: workerSealer,
  defaultStoreUrl,
  defaultKeyringUrl: (storeUrl) =>
    parseLocation(storeUrl, "store").scheme === "memory" ? "memory://device" : pathToFileURL(join(hearthDir(), KEYRING_DIR)).href,
  async openStore(url, options = {}) {
    const location = parseLocation(url, "store");
    if (location.scheme === "memory") return openMemoryStore(url);
    if (location.scheme === "file") return openFileStore(location.path, options);
    throw new HearthError("INVALID_URL", `store URL ${JSON.stringify(url)}: IndexedDB exists only in browsers; in Node use file:///dir or memory://name`);
  },
  async openKeyring(url) {
    const location = parseLocation(url, "keyring");
    if (location.scheme === "memory") return openMemoryKeyring(url);
    if (location.scheme === "file") return openFileKeyring(location.path);
    throw new HearthError("INVALID_URL", `keyring URL ${JSON.stringify(url)}: IndexedDB exists only in browsers; in Node use file:///dir or memory://name`);
  },
  async openRemote(url) {
    if (typeof url === "string" && isHttpUrl(url)) {
      // Node 20 has no global WebSocket: the sync server's push goes over
      // `ws`, loaded only when a sync server is used (bundles of this
      // platform that never attach over HTTP never evaluate it).
      const { WebSocket } = await import("ws");
      return openHttpRemote(url, { WebSocket });
    }
    const location = parseLocation(url, "sync point");
    if (location.scheme === "memory") return openMemoryRemote(url);
    if (location.scheme === "file") return openFileRemote(url);
    throw new HearthError("INVALID_URL", `sync point URL ${JSON.stringify(url)}: use http://host:port/<ledger>?token=…, file:///shared/dir or memory://name`);
  },
};
