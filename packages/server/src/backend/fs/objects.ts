/**
 * Objects of the filesystem backend: each ledger is a directory
 * `<dir>/ledgers/<ledger>/` laid out exactly like a shared-directory sync
 * point, and is served by core's file remote — the same temp+rename atomic
 * writes, the same name-to-path mapping, the same listing — rather than a
 * second implementation of them. (So such a directory can even be copied
 * out and attached as `file:///…`.)
 *
 * @module
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { openFileRemote, type Remote } from "@hearth/core";
import type { ObjectBackend } from "../types.js";

/** Options of {@link openFsObjects}. */
export interface FsObjectsOptions {
  /** Flush each write to stable storage before acknowledging it (default true). */
  readonly fsync?: boolean;
}

/** Bytes of the files under `path` (0 if it does not exist). */
async function directoryBytes(path: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(child);
    else if (entry.isFile()) total += (await stat(child).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Objects under `<dir>/<ledger>/`. Ledger names are validated by the caller. */
export function openFsObjects(dir: string, options: FsObjectsOptions = {}): ObjectBackend {
  const ledgers = new Map<string, Promise<Remote>>();
  const fsync = options.fsync !== false;
  const ledger = (name: string): Promise<Remote> => {
    let remote = ledgers.get(name);
    if (!remote) {
      remote = openFileRemote(pathToFileURL(join(dir, name)).href, { fsync });
      remote.catch(() => ledgers.delete(name)); // a failed open is retried by the next request
      ledgers.set(name, remote);
    }
    return remote;
  };
  return {
    put: async (l, name, bytes) => (await ledger(l)).put(name, bytes),
    putAll: async (l, entries) => (await ledger(l)).putAll!(entries),
    putStream: async (l, name, chunks, beforePublish) => (await ledger(l)).putStream!(name, chunks, beforePublish),
    get: async (l, name) => (await ledger(l)).get(name),
    list: async (l, prefix) => (await ledger(l)).list(prefix),
    delete: async (l, name) => (await ledger(l)).delete(name),
    bytesOf: (l) => directoryBytes(join(dir, l)),
    async close() {
      const open = [...ledgers.values()];
      ledgers.clear();
      await Promise.all(open.map(async (r) => (await r.catch(() => undefined))?.close()));
    },
  };
}
