/**
 * The browser keyring: `indexeddb://<name>` keeps the device identity and
 * the data keys as `CryptoKey` objects in one IndexedDB database.
 *
 * Why `CryptoKey` objects rather than bytes: IndexedDB stores them by
 * structured clone, so a key imported or generated as non-extractable stays
 * non-extractable on disk and after reload. Script running in the page (an
 * XSS payload included) can *use* the keys while the page is open, but can
 * never read their bytes out and carry them elsewhere.
 *
 * Shareable keys (a sync point's key, which other devices must receive)
 * are the one exception: their record also holds an *extractable* twin,
 * `wrappable`, which only {@link IndexedDbKeyring.wrapKey} ever touches, and
 * only through `subtle.wrapKey`, so the bytes leave encrypted for another
 * device. `getKey` keeps returning the non-extractable `key`, so code
 * handed a `DataKey` still cannot read any key out. Records written before
 * this field existed hold local keys.
 *
 * Concurrency: every insert is a get-then-put inside one readwrite
 * transaction, and IndexedDB serialises readwrite transactions on the same
 * object store across tabs and connections, so two tabs creating the
 * identity at once agree on one, and no key added by another tab is lost.
 *
 * @module
 */
import { generateRawDataKey, importDataKey, assertRawDataKey } from "../crypto/data-key.js";
import { bufferSource, fromBase64Url } from "../crypto/encoding.js";
import { assertFingerprint } from "../crypto/fingerprint.js";
import { composeIdentity, generateIdentity } from "../crypto/identity.js";
import { generateSigningPair, type SigningPair } from "../crypto/signing.js";
import { HearthError } from "../errors.js";
import { beginTransaction, closedError, openDatabase, parseIndexedDbUrl, requestResult, transactionDone } from "../store/indexeddb.js";
import type { DataKey, DeviceIdentity, Fingerprint, KeyOptions, Keyring } from "./types.js";
import {
  assertLabel, assertWrapArguments, assertWrapped, keyMissing, notShareable, shareableOption, unwrapRawKey, wrapCryptoKey,
} from "./wrapping.js";

/** The keyring a browser device uses when the caller names none. */
export const DEFAULT_INDEXEDDB_KEYRING_URL = "indexeddb://hearth-keyring";

const SCHEMA_VERSION = 1;
const IDENTITY_STORE = "identity";
const IDENTITY_KEY = "device";
/** The signing pair, beside the identity (keyrings made before it existed gain one on first use). */
const SIGNING_KEY = "signing";
const KEYS_STORE = "keys";

/** What one data key record holds; `key` is a non-extractable AES-GCM `CryptoKey`. */
interface StoredDataKey {
  readonly key: CryptoKey;
  /** The same key, extractable, present only on shareable keys: the source of `wrapKey`. */
  readonly wrappable?: CryptoKey;
  readonly label?: string;
  readonly addedAt: number;
}

/**
 * Opens (creating on first use) the IndexedDB keyring at `url`.
 *
 * @throws HearthError `INVALID_URL` for a malformed URL, `STORAGE_FAILED` if
 * IndexedDB is missing or refuses to open the database.
 * @example
 * ```ts
 * const keyring = await openIndexedDbKeyring();
 * const { publicKey } = await keyring.identity(); // share this to be invited
 * ```
 */
export async function openIndexedDbKeyring(url: string = DEFAULT_INDEXEDDB_KEYRING_URL): Promise<Keyring> {
  const name = parseIndexedDbUrl(url);
  const keyring = new IndexedDbKeyring(url);
  keyring.db = await openDatabase(
    name,
    SCHEMA_VERSION,
    (db) => {
      if (!db.objectStoreNames.contains(IDENTITY_STORE)) db.createObjectStore(IDENTITY_STORE);
      if (!db.objectStoreNames.contains(KEYS_STORE)) db.createObjectStore(KEYS_STORE);
    },
    () => {
      keyring.closed = true;
    },
  );
  return keyring;
}

class IndexedDbKeyring implements Keyring {
  db: IDBDatabase | undefined;
  closed = false;
  private cachedIdentity: DeviceIdentity | undefined;

  constructor(readonly url: string) {}

  async identity(): Promise<DeviceIdentity> {
    this.assertOpen();
    if (this.cachedIdentity) return this.cachedIdentity;
    // Each part is generated outside its transaction (WebCrypto is async and
    // would let the transaction auto-commit); a concurrent creator may win
    // the insert, in which case its part is the one returned.
    let stored = await this.read<DeviceIdentity>(IDENTITY_STORE, IDENTITY_KEY);
    if (!stored) {
      const fresh = await generateIdentity();
      this.assertOpen();
      stored = await this.insertIfAbsent(IDENTITY_STORE, IDENTITY_KEY, fresh);
    }
    let signing = await this.read<SigningPair>(IDENTITY_STORE, SIGNING_KEY);
    if (!signing) {
      const fresh = stored.signingKey instanceof CryptoKey && stored.signingPublicKey instanceof Uint8Array
        ? { privateKey: stored.signingKey, publicKey: stored.signingPublicKey }
        : await generateSigningPair();
      this.assertOpen();
      signing = await this.insertIfAbsent(IDENTITY_STORE, SIGNING_KEY, fresh);
    }
    if (!isIdentity(stored) || !(signing.privateKey instanceof CryptoKey) || !(signing.publicKey instanceof Uint8Array)) {
      throw new HearthError("STORAGE_FAILED", `keyring ${this.url} holds a malformed device identity; it was written by something else`);
    }
    // The ECDH point: stored beside the key since identities carry both points; older records had it as the printable key.
    const agreement = stored.agreementPublicKey instanceof Uint8Array ? stored.agreementPublicKey : fromBase64Url(stored.publicKey);
    this.cachedIdentity = await composeIdentity(agreement, stored.privateKey, signing);
    return this.cachedIdentity;
  }

  async getKey(fingerprint: Fingerprint): Promise<DataKey | undefined> {
    this.assertOpen();
    assertFingerprint(fingerprint);
    const stored = await this.read<StoredDataKey>(KEYS_STORE, fingerprint);
    return stored === undefined ? undefined : toDataKey(fingerprint, stored, this.url);
  }

  async createKey(label?: string, options?: KeyOptions): Promise<DataKey> {
    const raw = generateRawDataKey();
    try {
      return await this.importKey(raw, label, options);
    } finally {
      raw.fill(0); // the only copy of the bytes outside the CryptoKeys
    }
  }

  async importKey(raw: Uint8Array, label?: string, options?: KeyOptions): Promise<DataKey> {
    this.assertOpen();
    assertRawDataKey(raw);
    assertLabel(label);
    const shareable = shareableOption(options);
    const dataKey = await importDataKey(raw);
    const wrappable = shareable
      ? await globalThis.crypto.subtle.importKey("raw", bufferSource(raw), { name: "AES-GCM" }, true, ["encrypt", "decrypt"])
      : undefined;
    this.assertOpen();
    const record: StoredDataKey = {
      key: dataKey.key,
      ...(wrappable ? { wrappable } : {}),
      ...(label === undefined ? {} : { label }),
      addedAt: Date.now(),
    };
    // Idempotent: re-importing a held key keeps the first record (and label),
    // only adding the extractable twin if this import makes it shareable.
    const stored = await this.insertOrMakeShareable(dataKey.fingerprint, record);
    return toDataKey(dataKey.fingerprint, stored, this.url);
  }

  async wrapKey(fingerprint: Fingerprint, wrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
    this.assertOpen();
    assertFingerprint(fingerprint);
    assertWrapArguments(wrappingKey, iv, additionalData, "wrapKey");
    const stored = await this.read<StoredDataKey>(KEYS_STORE, fingerprint);
    if (stored === undefined) throw keyMissing(fingerprint, this.url);
    toDataKey(fingerprint, stored, this.url); // shape check
    if (stored.wrappable === undefined) throw notShareable(fingerprint, this.url);
    return wrapCryptoKey(stored.wrappable, wrappingKey, iv, additionalData);
  }

  async unwrapKey(wrapped: Uint8Array, unwrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array, label?: string): Promise<DataKey> {
    this.assertOpen();
    assertWrapped(wrapped);
    assertWrapArguments(unwrappingKey, iv, additionalData, "unwrapKey");
    assertLabel(label);
    // Unwrapped to raw bytes here (not straight into a CryptoKey): the
    // fingerprint is a hash of them, and the record needs both forms.
    const raw = await unwrapRawKey(wrapped, unwrappingKey, iv, additionalData);
    try {
      return await this.importKey(raw, label, { shareable: true });
    } finally {
      raw.fill(0);
    }
  }

  async listKeys(): Promise<Fingerprint[]> {
    const tx = this.begin(KEYS_STORE, "readonly");
    const keys = await requestResult(tx.objectStore(KEYS_STORE).getAllKeys(), "list of data keys");
    return keys.filter((k): k is Fingerprint => typeof k === "string");
  }

  async close(): Promise<void> {
    this.closed = true;
    this.db?.close();
  }

  private async read<T>(storeName: string, key: string): Promise<T | undefined> {
    const tx = this.begin(storeName, "readonly");
    return (await requestResult(tx.objectStore(storeName).get(key), `read of ${storeName}/${key}`)) as T | undefined;
  }

  /** Stores `value` under `key` unless something is there already; returns whichever is stored. */
  private async insertIfAbsent<T>(storeName: string, key: string, value: T): Promise<T> {
    const tx = this.begin(storeName, "readwrite", "strict"); // keys must survive power loss: losing one loses data
    const done = transactionDone(tx, `write of ${storeName}/${key}`);
    const objects = tx.objectStore(storeName);
    let result = value;
    const existing = objects.get(key);
    existing.onsuccess = () => {
      if (existing.result === undefined) objects.put(value, key);
      else result = existing.result as T;
    };
    await done;
    return result;
  }

  /**
   * Inserts a data key record unless one is there; if one is, and `record`
   * is shareable while the stored one is not, adds the extractable twin.
   * Returns whichever record is stored.
   */
  private async insertOrMakeShareable(fingerprint: Fingerprint, record: StoredDataKey): Promise<StoredDataKey> {
    const tx = this.begin(KEYS_STORE, "readwrite", "strict");
    const done = transactionDone(tx, `write of ${KEYS_STORE}/${fingerprint}`);
    const objects = tx.objectStore(KEYS_STORE);
    let result = record;
    const existing = objects.get(fingerprint);
    existing.onsuccess = () => {
      const found = existing.result as StoredDataKey | undefined;
      if (found === undefined) {
        objects.put(record, fingerprint);
      } else if (record.wrappable !== undefined && found.wrappable === undefined) {
        result = { ...found, wrappable: record.wrappable };
        objects.put(result, fingerprint);
      } else {
        result = found;
      }
    };
    await done;
    return result;
  }

  private begin(storeName: string, mode: IDBTransactionMode, durability: IDBTransactionDurability = "default"): IDBTransaction {
    this.assertOpen();
    return beginTransaction(this.db as IDBDatabase, storeName, mode, durability, (cause) => closedError("keyring", this.url, cause), () => {
      this.closed = true;
    });
  }

  private assertOpen(): void {
    if (this.closed || !this.db) throw closedError("keyring", this.url);
  }
}

function isIdentity(value: unknown): value is DeviceIdentity {
  const v = value as Partial<DeviceIdentity> | null;
  return typeof v?.publicKey === "string" && typeof v.fingerprint === "string" && v.privateKey instanceof CryptoKey;
}

function toDataKey(fingerprint: Fingerprint, stored: StoredDataKey, url: string): DataKey {
  if (!(stored?.key instanceof CryptoKey) || (stored.wrappable !== undefined && !(stored.wrappable instanceof CryptoKey && stored.wrappable.extractable))) {
    throw new HearthError("STORAGE_FAILED", `keyring ${url} holds a malformed record for key ${fingerprint}; it was written by something else`);
  }
  return { fingerprint, key: stored.key };
}

