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
import type { Platform } from "../platform/types.js";
import { Ledger } from "./ledger.js";
import type { OpenOptions } from "./types.js";

/** Store URLs open in this process; a second open would be a second writer. */
const openStores = new Set<string>();

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
  const storeUrl = options.store ?? platform.defaultStoreUrl(name);
  if (openStores.has(storeUrl)) {
    throw new HearthError("LOCKED", `ledger store ${storeUrl} is already open in this process; reuse that ledger or close it first`);
  }
  openStores.add(storeUrl);
  const cleanup: Array<() => Promise<void>> = [async () => void openStores.delete(storeUrl)];
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
    const inner: ByteStore = await platform.openStore(storeUrl);
    cleanup.push(() => inner.close());
    const store = await openEncryptedStore(inner, keyring, {
      ...(platform.cipher && { cipher: platform.cipher }),
      ...(platform.compression && { compression: platform.compression }),
    });
    return await Ledger.load(name, store, { durability, onClose: release, keyring, platform });
  } catch (err) {
    await release();
    throw err;
  }
}
