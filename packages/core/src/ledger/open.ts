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
import { SharedLedger } from "./handles.js";
import { DEFAULT_CACHE_BYTES } from "./node-cache.js";
import { fromHex } from "../crypto/encoding.js";
import { deviceOf } from "../trust/device.js";
import type { OpenOptions } from "./types.js";

/**
 * Store URLs open in this process: the shared ledger (once loaded), with
 * what it was opened with. Another `open()` of the same store with the same
 * keyring and durability gets a handle onto it (`./handles.ts`); with
 * others it would be a second writer with other keys, so it is `LOCKED`
 * (or, with `wait`, waits until the ledger closes). Each store also keeps
 * other processes out by its own lock.
 */
const openStores = new Map<string, OpenStore>();

interface OpenStore {
  /** The shared ledger, once loaded (rejects if the open failed). */
  readonly shared: Promise<SharedLedger>;
  /** Resolves when the store is free again (the ledger closed, or its open failed). */
  readonly free: Promise<void>;
  readonly keyring: string | Keyring;
  readonly durability: string;
}

/** The ledger of the store at `storeUrl` open in this process, if any (the browser entry serves it to other tabs). */
export function sharedLedgerOf(storeUrl: string): Promise<SharedLedger> | undefined {
  return openStores.get(storeUrl)?.shared;
}

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
  const keyringChoice = options.keyring ?? platform.defaultKeyringUrl(storeUrl);
  const openHere = (held: OpenStore, waited?: number): HearthError =>
    new HearthError(
      "LOCKED",
      `ledger store ${storeUrl} is already open in this process with ${held.keyring !== keyringChoice ? "another keyring" : `durability "${held.durability}"`}` +
        `${waited === undefined ? "" : ` (still, after waiting ${Math.round(waited)} ms)`}; ` +
        `open it with the same options to share it, close it first, or open with { wait: true } to wait for it`,
    );
  for (let held = openStores.get(storeUrl); held; held = openStores.get(storeUrl)) {
    const shared = await held.shared.catch(() => undefined);
    if (shared && !shared.released && held.keyring === keyringChoice && held.durability === durability) return shared.handle();
    if (shared && !shared.released) {
      if (!plan) throw openHere(held);
      await waitUntil(held.free, plan, () => openHere(held, waitedMs(plan)));
    } else {
      await held.free; // closing, or its open failed: free in a moment
    }
  }
  let letGo!: () => void;
  let loaded!: (shared: SharedLedger) => void;
  let failed!: (err: unknown) => void;
  const entry: OpenStore = {
    shared: new Promise<SharedLedger>((resolve, reject) => ((loaded = resolve), (failed = reject))),
    free: new Promise<void>((resolve) => (letGo = resolve)),
    keyring: keyringChoice,
    durability,
  };
  entry.shared.catch(() => undefined); // a failed open is reported to its caller, not as unhandled
  openStores.set(storeUrl, entry);
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
    if (typeof keyringChoice === "string") {
      keyring = await platform.openKeyring(keyringChoice);
      cleanup.push(() => keyring.close());
    } else {
      keyring = keyringChoice;
    }
    // The device identity (the author of this ledger's events) loads at the first write: importing
    // its keys was ~4 ms of a fresh process's open, which reading needs none of. (The first write
    // of a new keyring creates it; a keyring shared by several openers creates it once, whoever
    // comes first: see the keyrings.) A failed load is tried again at the next write.
    let author: Promise<Uint8Array> | undefined;
    const authorOf = (): Promise<Uint8Array> => {
      if (author === undefined) {
        const loading = keyring.identity().then((identity) => fromHex(deviceOf(identity).fingerprint));
        loading.catch(() => {
          if (author === loading) author = undefined;
        });
        author = loading;
      }
      return author;
    };
    // The rest of the wait (its signal carries the deadline) goes to the store's own lock.
    const inner: ByteStore = await platform.openStore(storeUrl, plan ? { wait: plan.signal ? { signal: plan.signal } : true } : {});
    cleanup.push(() => inner.close());
    const store = await openEncryptedStore(inner, keyring, {
      ...(platform.cipher && { cipher: platform.cipher }),
      ...(platform.compression && { compression: platform.compression }),
    });
    // File blocks are sealed under their own keys already: they go to the store under the encryption layer.
    const ledger = await Ledger.load(name, store, { durability, onClose: release, keyring, author: authorOf, platform, cacheBytes, authenticatedStore: true, blockStore: inner });
    const shared = new SharedLedger(ledger);
    loaded(shared);
    return shared.handle();
  } catch (err) {
    failed(err);
    await release();
    throw err;
  }
}
