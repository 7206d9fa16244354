/**
 * The browser byte store: `indexeddb://<name>` keeps one IndexedDB database
 * per store, holding a single object store of key → bytes (keys stored as
 * binary, see {@link ./indexeddb-layout}).
 *
 * Why this shape:
 * - One database per store (rather than one object store per ledger in a
 *   shared database) means opening a ledger never needs a schema upgrade,
 *   which would block on every other tab holding the database open, and
 *   `destroy()` is a single `deleteDatabase`.
 * - A batch is one readwrite transaction, so IndexedDB gives us atomicity;
 *   `"fsync"` maps to `durability: "strict"` (flushed before `complete`),
 *   `"process"` to `"relaxed"` (handed to the browser's storage process,
 *   which outlives the page).
 * - Every operation creates its transaction synchronously inside the call,
 *   so a write issued before `close()` is already queued when the
 *   connection closes and completes normally.
 * - One writer: the store holds an exclusive Web Lock ({@link ./web-lock})
 *   from before its database is opened until after it is closed (or, for
 *   `destroy()`, deleted), so a second tab or worker of the origin gets
 *   `LOCKED` or waits instead of writing over this one.
 *
 * No Node built-ins: this module only runs where `indexedDB` exists.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { planWait } from "./lock-wait.js";
import { assertStoreKey, type ByteStore, type StoreCapabilities, type StoreOpenOptions, type WriteBatch, type WriteOptions } from "./types.js";
import { holdWebLock, type ReleaseWebLock } from "./web-lock.js";
import { OBJECT_STORE, SCHEMA_VERSION, decodeStoreKey, encodeStoreKey, prefixRange, upgradeLayout } from "./indexeddb-layout.js";

const SCHEME = "indexeddb://";
/** How long `destroy()` waits for other connections to let go before giving up. */
const DELETE_BLOCKED_DEADLINE_MS = 10_000;

/**
 * Parses `indexeddb://<name>` into the database name. Kept separate so the
 * keyring and the store agree on what a name is.
 * @throws HearthError `INVALID_URL` for another scheme or an empty name.
 */
export function parseIndexedDbUrl(url: string): string {
  if (typeof url !== "string") throw new TypeError(`IndexedDB URL must be a string, got ${typeof url}`);
  if (!url.startsWith(SCHEME) || url.length === SCHEME.length) {
    throw new HearthError("INVALID_URL", `"${url}" is not an IndexedDB URL; use indexeddb://<database-name>`);
  }
  let name: string;
  try {
    name = decodeURIComponent(url.slice(SCHEME.length));
  } catch (cause) {
    throw new HearthError("INVALID_URL", `"${url}" has a malformed %-escape in its database name`, { cause });
  }
  if (name.length === 0) throw new HearthError("INVALID_URL", `"${url}" names no database; use indexeddb://<database-name>`);
  return name;
}

/** The global IndexedDB factory, or `STORAGE_FAILED` where there is none (Node, some private modes). */
export function indexedDbFactory(): IDBFactory {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) {
    throw new HearthError("STORAGE_FAILED", "IndexedDB is not available here; in Node use a file:// or memory:// store");
  }
  return factory;
}

/** Wraps a DOMException or other IDB failure as `STORAGE_FAILED`, naming quota exhaustion plainly. */
export function storageFailure(what: string, cause: unknown): HearthError {
  const name = (cause as { name?: unknown } | null)?.name;
  const hint =
    name === "QuotaExceededError"
      ? "the browser's storage quota is exhausted; free space or ask for persistent storage"
      : "the browser refused the operation; retry, or check storage settings";
  return new HearthError("STORAGE_FAILED", `IndexedDB ${what} failed: ${hint}`, { cause });
}

/** Settles with a request's result, rejecting with `STORAGE_FAILED` on error. */
export function requestResult<T>(request: IDBRequest<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(storageFailure(what, request.error));
  });
}

/** Resolves when `tx` commits; rejects with `STORAGE_FAILED` if it errors or aborts. */
export function transactionDone(tx: IDBTransaction, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(storageFailure(what, tx.error));
    tx.onabort = () => reject(storageFailure(what, tx.error ?? new Error("transaction aborted")));
  });
}

/**
 * Opens (creating on first use) database `name` at a fixed schema version.
 * `upgrade` creates the object stores, or moves an older version's records
 * (it gets the upgrade transaction and the version found; aborting that
 * transaction leaves the database as it was and fails the open). The connection closes itself when
 * another connection wants to delete or upgrade the database, so a
 * `destroy()` elsewhere is never blocked by a forgotten handle; `onLost`
 * lets the owner mark itself closed.
 */
export async function openDatabase(
  name: string,
  version: number,
  upgrade: (db: IDBDatabase, tx: IDBTransaction, oldVersion: number) => void,
  onLost: () => void,
): Promise<IDBDatabase> {
  const request = indexedDbFactory().open(name, version);
  request.onupgradeneeded = (event) => upgrade(request.result, request.transaction!, event.oldVersion);
  const db = await requestResult(request, `open of database "${name}"`);
  db.onversionchange = () => {
    onLost();
    db.close();
  };
  db.onclose = () => onLost();
  return db;
}

/**
 * Deletes database `name`, waiting for other connections to close.
 * @throws HearthError `LOCKED` if another connection keeps it open past the deadline.
 */
export function deleteDatabase(name: string): Promise<void> {
  const request = indexedDbFactory().deleteDatabase(name);
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    request.onsuccess = () => {
      clearTimeout(timer);
      resolve();
    };
    request.onerror = () => {
      clearTimeout(timer);
      reject(storageFailure(`delete of database "${name}"`, request.error));
    };
    request.onblocked = () => {
      timer ??= setTimeout(
        () =>
          reject(
            new HearthError(
              "LOCKED",
              `IndexedDB database "${name}" is held open by another tab or connection; close it and destroy again`,
            ),
          ),
        DELETE_BLOCKED_DEADLINE_MS,
      );
    };
  });
}

/** The Web Lock that makes one holder of the IndexedDB store `name`. */
export function storeLockName(name: string): string {
  return `hearth-store:${name}`;
}

/**
 * Opens the IndexedDB store at `url` (`indexeddb://<name>`) for writing,
 * creating the database on first use. No other tab or worker of this
 * origin can open it until this handle is closed (or its page goes away).
 *
 * @param options - `wait`: `true` to wait for another holder to let go,
 *   or `{ timeoutMs, signal }` to wait at most that long
 * @throws HearthError `INVALID_URL` for a malformed URL; `LOCKED` when
 *   another tab, worker or handle holds it (with `wait`, once the wait
 *   runs out); `STORAGE_FAILED` if IndexedDB or Web Locks are missing or
 *   refuse to open.
 * @example
 * ```ts
 * const store = await openIndexedDbStore("indexeddb://todos");
 * await store.write({ put: [["meta/head", bytes]] }, { durability: "fsync" });
 * ```
 */
export async function openIndexedDbStore(url: string, options: StoreOpenOptions = {}): Promise<ByteStore> {
  const name = parseIndexedDbUrl(url);
  const plan = planWait(options.wait);
  indexedDbFactory(); // fail for a missing IndexedDB before queueing for its lock
  const release = await holdWebLock(storeLockName(name), url, plan);
  const store = new IndexedDbStore(url, name, release);
  try {
    store.db = await openDatabase(name, SCHEMA_VERSION, upgradeLayout, () => store.lost());
  } catch (err) {
    release();
    if ((err as { cause?: { name?: unknown } }).cause?.name === "AbortError") throw notAStore(name, err);
    throw err;
  }
  if (!store.db.objectStoreNames.contains(OBJECT_STORE)) {
    store.db.close();
    release();
    throw notAStore(name);
  }
  return store;
}

function notAStore(name: string, cause?: unknown): HearthError {
  return new HearthError("STORAGE_FAILED", `IndexedDB database "${name}" exists but is not a Hearth store; pick another name`, { cause });
}

class IndexedDbStore implements ByteStore {
  /**
   * `recordOverhead`: measured in Chromium 156 (records of 800 random bytes
   * under 62- and 36-byte keys): ~260 bytes a record in its LevelDB tables
   * and ~430 in its log, growing by about three bytes per byte of key (the
   * key is stored with the record, in an "exists" entry, and in the undo
   * log of its transaction).
   */
  readonly supports: StoreCapabilities = { persistent: true, fsync: true, recordOverhead: 300 };
  db: IDBDatabase | undefined;
  closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  /** The object store of the read transaction gets of the current turn join ({@link readRequest}). */
  private readStore: IDBObjectStore | undefined;
  /** Set once the Web Lock is let go; from then on another holder may have the database. */
  private lockReleased = false;

  constructor(
    readonly url: string,
    private readonly name: string,
    private readonly releaseLock: ReleaseWebLock,
  ) {}

  /**
   * The connection was closed under us (another context deleted the
   * database, or the browser closed it): this handle is done, and its lock
   * is let go so that a waiting opener is not held up by a dead handle.
   */
  lost(): void {
    this.closed = true;
    this.letGo();
  }

  private letGo(): void {
    this.lockReleased = true;
    this.releaseLock();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.assertOpen();
    assertStoreKey(key);
    const value: unknown = await requestResult(this.readRequest(key), `get of "${key}"`);
    if (value === undefined || value instanceof Uint8Array) return value; // structured clone already copied it
    throw new HearthError("STORAGE_FAILED", `IndexedDB value under "${key}" is not bytes; the database was written by something else`);
  }

  /**
   * Issues a get in the read transaction of this turn, starting one if
   * there is none or it can take no more requests (it went inactive when
   * control returned to the event loop, or finished). Gets issued together
   * (a tree scan fetching a node's children at once) so share one
   * transaction: Chromium pays a round trip to its storage process per
   * transaction, and a full read of a 50,000-document ledger fetches
   * thousands of nodes. Gets awaited one by one still get one each.
   */
  private readRequest(key: string): IDBRequest {
    const binary = encodeStoreKey(key);
    const shared = this.readStore;
    if (shared) {
      try {
        return shared.get(binary);
      } catch {
        // Inactive or finished: start another below.
      }
    }
    const tx = this.begin("readonly");
    const objects = tx.objectStore(OBJECT_STORE);
    this.readStore = objects;
    const forget = (): void => {
      if (this.readStore === objects) this.readStore = undefined;
    };
    tx.addEventListener("complete", forget);
    tx.addEventListener("abort", forget);
    return objects.get(binary);
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== "string") throw new TypeError(`list prefix must be a string, got ${typeof prefix}`);
    const tx = this.begin("readonly");
    const keys = await requestResult(tx.objectStore(OBJECT_STORE).getAllKeys(prefixRange(prefix)), `list of "${prefix}"`);
    const out: string[] = [];
    // IDB orders binary keys byte by byte: for ASCII, the order `<` gives the strings.
    for (const key of keys) {
      const text = decodeStoreKey(key);
      if (text !== undefined) out.push(text);
    }
    return out;
  }

  async write(batch: WriteBatch, options: WriteOptions = {}): Promise<void> {
    this.assertOpen();
    const puts = batch.put ?? [];
    const dels = batch.del ?? [];
    for (const key of dels) assertStoreKey(key);
    for (const [key, value] of puts) {
      assertStoreKey(key);
      if (!(value instanceof Uint8Array)) throw new TypeError(`value for "${key}" must be a Uint8Array`);
    }
    if (puts.length === 0 && dels.length === 0) return;
    const durability = options.durability === "fsync" ? "strict" : "relaxed";
    const tx = this.begin("readwrite", durability);
    // A get issued after this write must see it: it may not join a read
    // transaction started before the write's (IndexedDB orders transactions
    // by creation), so the next get starts a new one.
    this.readStore = undefined;
    const done = transactionDone(tx, `write of ${puts.length + dels.length} key(s)`);
    this.track(done);
    try {
      const objects = tx.objectStore(OBJECT_STORE);
      for (const key of dels) objects.delete(encodeStoreKey(key));
      // A view is copied so that only its bytes are stored, never the whole
      // backing buffer; a value that is its whole buffer (a sealed envelope)
      // is cloned by IndexedDB as it is.
      for (const [key, value] of puts) objects.put(ownsBuffer(value) ? value : value.slice(), encodeStoreKey(key));
    } catch (cause) {
      tx.abort();
      done.catch(() => undefined);
      throw storageFailure("write", cause);
    }
    await done;
  }

  async close(): Promise<void> {
    await this.closeConnection();
    this.letGo();
  }

  /**
   * Deletes the database. The lock is held until it is gone (retaken if
   * this handle was closed first, `LOCKED` if someone else has it since):
   * without it a waiting tab could open the database and write, only to
   * have it deleted under it.
   */
  async destroy(): Promise<void> {
    await this.closeConnection();
    const release = this.lockReleased ? await holdWebLock(storeLockName(this.name), this.url, undefined) : () => this.letGo();
    try {
      await deleteDatabase(this.name);
    } finally {
      release();
    }
  }

  /** Lets pending writes finish, then closes the connection (the lock stays held). */
  private async closeConnection(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    this.db?.close();
  }

  /** Starts a transaction now (synchronously), so `close()` cannot overtake it. */
  private begin(mode: IDBTransactionMode, durability: IDBTransactionDurability = "default"): IDBTransaction {
    this.assertOpen();
    return beginTransaction(this.db as IDBDatabase, OBJECT_STORE, mode, durability, (cause) => closedError("store", this.url, cause), () => this.lost());
  }

  private assertOpen(): void {
    if (this.closed || !this.db) throw closedError("store", this.url);
  }

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    const forget = (): void => void this.pending.delete(promise);
    promise.then(forget, forget);
  }
}

function ownsBuffer(value: Uint8Array): boolean {
  return value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
}

/** The `STORE_CLOSED` error for an IndexedDB store or keyring. */
export function closedError(kind: "store" | "keyring", url: string, cause?: unknown): HearthError {
  return new HearthError("STORE_CLOSED", `${kind} ${url} is closed; open it again to use it`, { cause });
}

/**
 * Starts a transaction on `db` synchronously. A database closed underneath
 * (another handle deleted it) counts as closed: `markClosed` runs and the
 * error from `closed` is thrown; anything else is `STORAGE_FAILED`.
 */
export function beginTransaction(
  db: IDBDatabase,
  storeName: string,
  mode: IDBTransactionMode,
  durability: IDBTransactionDurability,
  closed: (cause: unknown) => HearthError,
  markClosed: () => void,
): IDBTransaction {
  try {
    return db.transaction(storeName, mode, { durability });
  } catch (cause) {
    if ((cause as { name?: unknown }).name === "InvalidStateError") {
      markClosed();
      throw closed(cause);
    }
    throw storageFailure("transaction", cause);
  }
}
