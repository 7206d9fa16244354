/**
 * The filesystem backend, the embedded default: one directory holds
 * everything a server needs, for one server instance on one machine.
 *
 * ```
 * <dir>/ledgers/<ledger>/bundle/<cid>   objects (file remote layout)
 * <dir>/tokens/<id>.json                token records (SHA-256 of the secret only)
 * ```
 *
 * Notifications are in-process, so two server processes on one directory
 * would not push each other's changes (clients would still see them at
 * their safety poll); use the S3 + PostgreSQL backend for several instances.
 *
 * @module
 */
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { HearthError } from "@hearth/core";
import { LocalNotifier } from "../notifier-local.js";
import type { Backend } from "../types.js";
import { openFsObjects, type FsObjectsOptions } from "./objects.js";
import { openFsTokens } from "./tokens.js";

/** Options of {@link openFsBackend}. */
export type FsBackendOptions = FsObjectsOptions;

/**
 * Opens (creating) the backend in `dir`.
 * @throws HearthError `STORAGE_FAILED` if the directory cannot be created
 * @example
 * ```ts
 * const server = await createServer({ backend: await openFsBackend("./hearth-data") });
 * ```
 */
export async function openFsBackend(dir: string, options: FsBackendOptions = {}): Promise<Backend> {
  if (typeof dir !== "string" || dir === "") throw new TypeError("openFsBackend needs a directory");
  const root = resolve(dir);
  try {
    await fs.promises.mkdir(join(root, "ledgers"), { recursive: true });
  } catch (err) {
    throw new HearthError("STORAGE_FAILED", `cannot create the server data directory ${root}: ${(err as Error).message}`, { cause: err });
  }
  const objects = openFsObjects(join(root, "ledgers"), options);
  const tokens = await openFsTokens(join(root, "tokens"));
  const notifier = new LocalNotifier();
  return {
    objects,
    tokens,
    notifier,
    description: `fs ${root}`,
    async close() {
      await Promise.all([objects.close(), tokens.close(), notifier.close()]);
    },
  };
}
