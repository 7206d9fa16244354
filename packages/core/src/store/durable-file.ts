/**
 * The one way Hearth writes a whole file so that a crash leaves either the
 * old file or the complete new one, never a torn or empty one: write a
 * temp file beside the target, flush it, then rename it into place (or
 * hard-link it, to create only if absent), then flush the directory so the
 * new name itself survives power loss.
 *
 * ```ts
 * await writeFileAtomic(path, bytes);                                      // replace
 * const created = await writeFileAtomic(path, bytes, { ifExists: "keep" }); // false: it existed
 * const file = await createAtomicFile(path);  // streamed: write(), then commit() or abort()
 * ```
 *
 * Guarantees, by `durable` (default `true`):
 * - `true`: when the call resolves, the content and the name are on stable
 *   storage (`fdatasync` of the file, `fsync` of its directory).
 * - `false`: atomic, survives `kill -9`, but a power loss may leave the
 *   old file (never a torn one on a journalling file system that orders
 *   data before renames, such as ext4's default). For files that are only
 *   a hint (the ledger's holder record).
 *
 * The keyring, the server's token store, `hearth export` and the holder
 * record use it; the file remote and the store's logs publish in batches
 * of their own (many temps, renames in order, one flush per directory) and
 * share {@link writeTempFile} and {@link syncDirectory} from here. Temp
 * names start with {@link TEMP_PREFIX} unless a caller whose directory has
 * other naming rules chooses its own (`tempPrefix`); a crashed writer's
 * leftovers are the caller's to sweep.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";

/** Default start of temp file names. */
export const TEMP_PREFIX = ".tmp-";

/** Options of {@link writeFileAtomic} and {@link createAtomicFile}. */
export interface AtomicFileOptions {
  /** `"replace"` (default) atomically replaces an existing file; `"keep"` leaves it, and the call reports `false`. */
  readonly ifExists?: "replace" | "keep";
  /** Flush file and directory before resolving (default `true`); see the module docs. */
  readonly durable?: boolean;
  /** Permission bits of a new file (default `0o600`: owner only). */
  readonly mode?: number;
  /** Start of the temp file's name (default {@link TEMP_PREFIX}). */
  readonly tempPrefix?: string;
}

/** A file being written by {@link createAtomicFile}: nothing is visible at its path until `commit`. */
export interface AtomicFile {
  /** Appends bytes. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Publishes the file at its path. Resolves `true`, or `false` when
   * `ifExists: "keep"` found a file there (left untouched; the temp is removed).
   */
  commit(): Promise<boolean>;
  /** Drops everything written; the path is untouched. Safe to call after a failed `commit`. */
  abort(): Promise<void>;
}

/**
 * Writes `bytes` to `path` atomically (and durably unless told otherwise).
 *
 * @returns `true`, or `false` when `ifExists: "keep"` found a file there.
 * @throws the file system's error (the caller wraps it in its own code); nothing is left behind.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, options: AtomicFileOptions = {}): Promise<boolean> {
  const file = await createAtomicFile(path, options);
  try {
    await file.write(bytes);
    return await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/**
 * Starts writing `path` through a temp file beside it, for content too
 * large to hold in memory at once.
 *
 * @throws the file system's error if the temp file cannot be created.
 */
export async function createAtomicFile(path: string, options: AtomicFileOptions = {}): Promise<AtomicFile> {
  const { ifExists = "replace", durable = true, mode = 0o600, tempPrefix = TEMP_PREFIX } = options;
  const dir = dirname(path);
  const temp = join(dir, `${tempPrefix}${globalThis.crypto.randomUUID()}`);
  const handle = await fs.promises.open(temp, "wx", mode);
  let state: "open" | "closed" | "done" = "open";
  const close = async (): Promise<void> => {
    if (state !== "open") return;
    state = "closed";
    await handle.close();
  };
  const removeTemp = (): Promise<void> => fs.promises.rm(temp, { force: true }).catch(() => undefined);
  return {
    async write(bytes) {
      if (state !== "open") throw new Error(`${path} is already committed or aborted`);
      for (let at = 0; at < bytes.length; ) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
    },
    async commit() {
      if (state !== "open") throw new Error(`${path} is already committed or aborted`);
      if (durable) await handle.datasync();
      await close();
      let created = true;
      if (ifExists === "keep") {
        try {
          await fs.promises.link(temp, path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          created = false;
        } finally {
          await removeTemp();
        }
      } else {
        await fs.promises.rename(temp, path);
      }
      state = "done";
      if (created && durable) await syncDirectory(dir);
      return created;
    },
    async abort() {
      if (state === "done") return;
      await close().catch(() => undefined);
      await removeTemp();
    },
  };
}

/**
 * Writes a complete temp file at `temp` (which must not exist), flushed
 * when `durable`, for callers that publish many files themselves.
 */
export async function writeTempFile(temp: string, bytes: Uint8Array, options: { durable: boolean; mode?: number }): Promise<void> {
  if (!options.durable) return fs.promises.writeFile(temp, bytes, { flag: "wx", mode: options.mode ?? 0o666 });
  const handle = await fs.promises.open(temp, "wx", options.mode ?? 0o666);
  try {
    for (let at = 0; at < bytes.length; ) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes a directory's entries (a created, renamed or removed file)
 * durable. Windows cannot open directories for syncing and orders renames
 * itself, and some network file systems refuse: there the rename is still
 * atomic, and the call is a no-op.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, "r");
  } catch (err) {
    if (refusesDirectorySync(err)) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!refusesDirectorySync(err)) throw err;
  } finally {
    await handle.close();
  }
}

/** The errors of file systems that cannot open or flush a directory (not of a failing disk). */
function refusesDirectorySync(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EINVAL" || code === "ENOTSUP" || code === "EPERM" || code === "EACCES" || code === "EISDIR";
}
