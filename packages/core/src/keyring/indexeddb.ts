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
 * Concurrency: every insert is a get-then-put inside one readwrite
 * transaction, and IndexedDB serialises readwrite transactions on the same
 * object store across tabs and connections, so two tabs creating the
 * identity at once agree on one, and no key added by another tab is lost.
 *
 * @module
 */
import { generateRawDataKey, importDataKey, assertRawDataKey } from "../crypto/data-key.js";
import { assertFingerprint } from "../crypto/fingerprint.js";
import { generateIdentity } from "../crypto/identity.js";
import { HearthError } from "../errors.js";
import { beginTransaction, closedError, openDatabase, parseIndexedDbUrl, requestResult, transactionDone } from "../store/indexeddb.js";
import type { DataKey, DeviceIdentity, Fingerprint, Keyring } from "./types.js";

/** The keyring a browser device uses when the caller names none. */
export const DEFAULT_INDEXEDDB_KEYRING_URL = "indexeddb://hearth-keyring";

const SCHEMA_VERSION = 1;
const IDENTITY_STORE = "identity";
const IDENTITY_KEY = "device";
const KEYS_STORE = "keys";

/** What one data key record holds; `key` is a non-extractable AES-GCM `CryptoKey`. */
interface StoredDataKey {
  readonly key: CryptoKey;
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
    let stored = await this.read<DeviceIdentity>(IDENTITY_STORE, IDENTITY_KEY);
    if (!stored) {
      // Generated outside the transaction (WebCrypto is async and would let
      // the transaction auto-commit); a concurrent creator may win the
      // insert, in which case its identity is the one returned.
      const fresh = await generateIdentity();
      this.assertOpen();
      stored = await this.insertIfAbsent(IDENTITY_STORE, IDENTITY_KEY, fresh);
    }
    if (!isIdentity(stored)) {
      throw new HearthError("STORAGE_FAILED", `keyring ${this.url} holds a malformed device identity; it was written by something else`);
    }
    this.cachedIdentity = stored;
    return stored;
  }

  async getKey(fingerprint: Fingerprint): Promise<DataKey | undefined> {
    this.assertOpen();
    assertFingerprint(fingerprint);
    const stored = await this.read<StoredDataKey>(KEYS_STORE, fingerprint);
    return stored === undefined ? undefined : toDataKey(fingerprint, stored, this.url);
  }

  async createKey(label?: string): Promise<DataKey> {
    const raw = generateRawDataKey();
    try {
      return await this.importKey(raw, label);
    } finally {
      raw.fill(0); // the only copy of the bytes outside the non-extractable CryptoKey
    }
  }

  async importKey(raw: Uint8Array, label?: string): Promise<DataKey> {
    this.assertOpen();
    assertRawDataKey(raw);
    if (label !== undefined && typeof label !== "string") throw new TypeError(`key label must be a string, got ${typeof label}`);
    const dataKey = await importDataKey(raw);
    this.assertOpen();
    const record: StoredDataKey = label === undefined ? { key: dataKey.key, addedAt: Date.now() } : { key: dataKey.key, label, addedAt: Date.now() };
    // Idempotent: re-importing a held key keeps the first record (and label).
    const stored = await this.insertIfAbsent(KEYS_STORE, dataKey.fingerprint, record);
    return toDataKey(dataKey.fingerprint, stored, this.url);
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
  if (!(stored?.key instanceof CryptoKey)) {
    throw new HearthError("STORAGE_FAILED", `keyring ${url} holds a malformed record for key ${fingerprint}; it was written by something else`);
  }
  return { fingerprint, key: stored.key };
}

