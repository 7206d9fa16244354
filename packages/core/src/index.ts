/**
 * `@hearth/core`: a local-first, end-to-end encrypted, content-addressed
 * document ledger. This module holds what Node and browsers share; the
 * package entry points (`index.node.ts`, `index.browser.ts`) add `open`
 * wired to their platform.
 *
 * @example
 * ```ts
 * import { open } from "@hearth/core";
 * const db = await open("todos");                       // ~/.hearth/todos (Node), IndexedDB (browser)
 * await db.put({ _id: "milk", title: "Buy milk", done: false });
 * const { rows } = await db.query("done", { key: false });
 * db.subscribe((docs) => console.log("changed:", docs.map((d) => d._id)));
 * await db.close();
 * ```
 *
 * @module
 */
export { HearthError, isHearthError, ERROR_CODES, type HearthErrorCode } from "./errors.js";
export { Ledger } from "./ledger/ledger.js";
export { DEFAULT_CACHE_BYTES } from "./ledger/node-cache.js";
export type { MapFn, EmitFn } from "./ledger/indexes.js";
export { liveQuery, liveAllDocs, type LiveQueryOptions, type LiveQueryResult, type LiveAllDocsOptions } from "./ledger/live-query.js";
export type * from "./ledger/types.js";
export type { JsonValue } from "./doc/normalize.js";
export type { DocFile } from "./files/ledger-files.js";
export type { FileInput } from "./files/input.js";
export { MAX_FILE_BYTES } from "./files/blocks.js";
export type { ByteStore, WriteBatch, WriteOptions, Durability, StoreCapabilities, StoreOpenOptions } from "./store/types.js";
export type { LockWait } from "./store/lock-wait.js";
export type { Keyring, DataKey, DeviceIdentity, Fingerprint } from "./keyring/types.js";
export { openMemoryStore } from "./store/memory.js";
export { openMemoryKeyring } from "./keyring/memory.js";
export { openEncryptedStore, type EncryptedStore } from "./store/encrypted.js";
export { parseLocation, formatLocation, type Location } from "./url.js";
export { newDocId } from "./ids.js";
export { Attachment, type AttachOptions, type SyncedOptions, type RotateOptions } from "./sync/attachment.js";
export type { SyncStatus, SyncState, SyncError, SyncChange, AttachmentEvents } from "./sync/status.js";
export type { FileProgress, FilesMode } from "./sync/file-transfer.js";
export type { MemberInfo } from "./sync/point-trust.js";
export type { Role } from "./trust/entry.js";
export { assertRemoteEntries, assertRemoteName, assertRemotePrefix, type Remote, type RemoteCapabilities, type RemoteChange, type RemoteChangeListener, type RemoteEntry } from "./remote/types.js";
export { openMemoryRemote, dropMemoryRemote } from "./remote/memory.js";
export { contentName, contentNameOfDigest } from "./sync/protocol.js";
export { openHttpRemote, type HttpRemoteOptions, type WebSocketConstructor, type WebSocketLike, type ReconnectOptions } from "./remote/http.js";
