/**
 * Opening a ledger: resolve the store and keyring, unlock the store with
 * the keyring, load the ledger, and release everything if any step fails.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { Keyring } from "../keyring/types.js";
import type { ByteStore } from "../store/types.js";
import { openEncryptedStore } from "../store/encrypted.js";
import { planWait, waitedMs, waitUntil } from "../store/lock-wait.js";
import type { Platform } from "../platform/types.js";
import { Ledger } from "./ledger.js";
import { DEFAULT_CACHE_BYTES } from "./node-cache.js";
import { fromHex } from "../crypto/encoding.js";
import { deviceOf } from "../trust/device.js";
import type { OpenOptions } from "./types.js";

/**
 * Store URLs open in this process, each with a promise that resolves when
 * its ledger lets go: a second open would be a second writer. (Each store
 * also keeps other processes out by its own lock; this table covers
 * `memory://` stores and gives the clearer message.)
 */
const openStores = new Map<string, Promise<void>>();

/** Opens ledger `name` on `platform`; see `open()`. */
export async function openLedger(name: string, options: OpenOptions, platform: Platform): Promise<Ledger> {
  if (typeof name !== "string" || name.length === 0 || name.length > 200 || name === "." || name === "..") {
    throw new HearthError("INVALID_ARGUMENT", `ledger name must be 1–200 characters (not "." or ".."), got ${JSON.stringify(name)}`);
  }
  if (options === null || typeof options !== "object") throw new TypeError("open options must be an object");
  const durability = options.durability ?? "process";
  if (durability !== "process" && durability !== "fsync") {
    throw new HearthError("INVALID_ARGUMENT", `durability must be "process" or "fsync", got ${JSON.stringify(durability)}`);
  }
  const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
    throw new HearthError("INVALID_ARGUMENT", `cacheBytes must be a whole number of bytes (0 or more), got ${String(options.cacheBytes)}`);
  }
  const plan = planWait(options.wait);
  const storeUrl = options.store ?? platform.defaultStoreUrl(name);
  const openHere = (waited?: number): HearthError =>
    new HearthError(
      "LOCKED",
      `ledger store ${storeUrl} is already open in this process${waited === undefined ? "" : ` (still, after waiting ${Math.round(waited)} ms)`}; ` +
        `reuse that ledger, close it first, or open with { wait: true } to wait for it`,
    );
  for (let held = openStores.get(storeUrl); held; held = openStores.get(storeUrl)) {
    if (!plan) throw openHere();
    await waitUntil(held, plan, () => openHere(waitedMs(plan)));
  }
  let letGo!: () => void;
  openStores.set(storeUrl, new Promise<void>((resolve) => (letGo = resolve)));
  const cleanup: Array<() => Promise<void>> = [
    async () => {
      openStores.delete(storeUrl);
      letGo();
    },
  ];
  const release = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    let keyring: Keyring;
    if (options.keyring === undefined || typeof options.keyring === "string") {
      keyring = await platform.openKeyring(options.keyring ?? platform.defaultKeyringUrl(storeUrl));
      cleanup.push(() => keyring.close());
    } else {
      keyring = options.keyring;
    }
    // The rest of the wait (its signal carries the deadline) goes to the store's own lock.
    const inner: ByteStore = await platform.openStore(storeUrl, plan ? { wait: plan.signal ? { signal: plan.signal } : true } : {});
    cleanup.push(() => inner.close());
    const store = await openEncryptedStore(inner, keyring, {
      ...(platform.cipher && { cipher: platform.cipher }),
      ...(platform.compression && { compression: platform.compression }),
    });
    const author = fromHex(deviceOf(await keyring.identity()).fingerprint);
    // File blocks are sealed under their own keys already: they go to the store under the encryption layer.
    return await Ledger.load(name, store, { durability, onClose: release, keyring, author, platform, cacheBytes, authenticatedStore: true, blockStore: inner });
  } catch (err) {
    await release();
    throw err;
  }
}
