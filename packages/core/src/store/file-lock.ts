/**
 * The file store's write lock: a lock the kernel holds on the store's
 * current log file, so that at most one holder (handle, worker thread,
 * process, container on one host) writes a store at a time.
 *
 * Why a kernel lock on the log itself:
 * - **The kernel releases it when the holder dies**, whatever killed it
 *   (`kill -9`, an OOM kill, a container stopped), so a crash never leaves
 *   a store unopenable and nothing has to judge whether a holder is "still
 *   alive". The previous design (a `LOCK` file holding a pid) had to, and
 *   judged wrong across PID namespaces: a second container saw the live
 *   holder's pid as dead, took the lock over and lost acknowledged writes.
 * - **Deleting a file cannot let a second writer in.** A lock on a separate
 *   lock file is lost with its file name: delete it and the next opener
 *   creates a new file and locks that. The log is the data: an opener must
 *   open it to open the store, and the lock comes with it. (Compaction's
 *   new log is locked before it is published; see {@link ./file-open}.)
 * - **Locks are per open file description** (Linux OFD locks, `flock` on
 *   BSD/macOS, `LockFileEx` on Windows, as chosen by the library), so two
 *   handles in one process exclude each other as two processes do.
 *
 * Node has no file-lock call, so this uses `fs-native-extensions`
 * (Holepunch's small, maintained native add-on, which ships prebuilt
 * binaries for every platform and needs no compiler or install script).
 * Bundlers must leave it external (it loads its binary from its own folder).
 *
 * Node-only.
 *
 * @module
 */
import nativeFs from "fs-native-extensions";
import { HearthError } from "../errors.js";

/**
 * Takes the exclusive write lock on `fd` (open for writing) without waiting.
 *
 * @returns true once held (until `fd` is closed), false when another open
 *   file description holds it.
 * @throws HearthError `STORAGE_FAILED` when the file system cannot lock
 *   files (some network or FUSE mounts): the store refuses to open rather
 *   than open unguarded.
 */
export function tryLockExclusive(fd: number, path: string): boolean {
  try {
    return nativeFs.tryLock(fd);
  } catch (cause) {
    throw new HearthError(
      "STORAGE_FAILED",
      `cannot lock ${path} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): ` +
        `its file system does not support file locks, which Hearth needs to keep a second writer out. ` +
        `Keep the ledger on a local disk (or a volume shared by containers of one host).`,
      { cause },
    );
  }
}
