/**
 * `@hearth/core` for Node: everything in the shared entry plus `open`
 * (file stores by default), the file store and keyring, and the atomic
 * file writes the server and CLI share.
 *
 * @module
 */
import { openLedger } from "./ledger/open.js";
import { nodePlatform } from "./platform/node.js";
import type { Ledger } from "./ledger/ledger.js";
import type { OpenOptions } from "./ledger/types.js";

export * from "./index.js";
export { openFileStore, fileUrlToDir, type FileStoreOptions, type FileByteStore } from "./store/file.js";
export { openFileKeyring } from "./keyring/file.js";
export { hearthDir, directoryName, defaultStoreUrl, KEYRING_DIR } from "./platform/node.js";
export { openFileRemote, type FileRemoteOptions } from "./remote/file.js";
export { writeFileAtomic, createAtomicFile, type AtomicFile, type AtomicFileOptions } from "./store/durable-file.js";

/**
 * Opens (creating if needed) the ledger `name`.
 *
 * @param name - the ledger's name; also its directory under `$HEARTH_DIR` (default `~/.hearth`) when no `store` is given
 * Opening a store already open in this process (with the same keyring and
 * durability) returns another handle onto the same ledger: writes and
 * subscriptions are shared, each handle closes on its own, and the ledger
 * closes with the last one (see `ledger/handles.ts`).
 *
 * @param name - the ledger's name; also its directory under `$HEARTH_DIR` (default `~/.hearth`) when no `store` is given
 * @param options - `store`, `keyring`, `durability`, `wait` ({@link OpenOptions})
 * @throws HearthError `KEY_REQUIRED` if the store is encrypted with a key the keyring lacks,
 *   `LOCKED` if it is open elsewhere (another process or container, or this
 *   process with another keyring or durability; with `wait`, once the wait
 *   runs out), `INTEGRITY` if its log lost acknowledged writes, `INVALID_URL`
 *   for a bad store or keyring URL
 * @example
 * ```ts
 * const db = await open("todos", { store: "memory://todos" });
 * const same = await open("todos", { store: "memory://todos" }); // another handle on the same ledger
 * ```
 */
export function open(name: string, options: OpenOptions = {}): Promise<Ledger> {
  return openLedger(name, options, nodePlatform);
}
