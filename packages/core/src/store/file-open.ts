/**
 * Opening a file store's directory: take the write lock by holding the
 * current log, clear what interrupted work left behind, and check the log
 * against the commit record before its records are replayed.
 *
 * The lock protocol ({@link ./file-lock} says why the lock is on the log):
 *
 * 1. Find the current log (highest generation). If there is none, create
 *    generation 1 exclusively (`O_EXCL`): of two openers of a new
 *    directory, one creates it and the other finds it.
 * 2. Open it and try its lock. Busy: the store is `LOCKED` (or, with
 *    `wait`, try again shortly).
 * 3. Once locked, check that the file is still linked and still the
 *    current log. A holder compacting locks the new log before publishing
 *    it and unlocks the old one only after deleting it, so an opener that
 *    locked a log compaction just replaced sees it unlinked and retries.
 *
 * Only the holder deletes anything (temp files, old generations), so no
 * opener can remove what a live holder is writing.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { HearthError } from "../errors.js";
import { CommitFile, currentBoot, requiredLogEnd, type CommitState } from "./file-commit.js";
import { isHolderTemp, lockedError, readHolder, recordHolder, type HolderRecord } from "./file-holder.js";
import type { LogIndex } from "./file-index.js";
import { INDEX_TEMP_FILE, IndexRun, logIdentity, sameLog } from "./file-index-run.js";
import { INDEX_DELTA_TEMP_FILE, readDelta } from "./file-index-delta.js";
import { datasync, storageFailed, writeAllSync } from "./file-io.js";
import { syncDirectory } from "./durable-file.js";
import { tryLockExclusive } from "./file-lock.js";
import { LOG_MAGIC } from "./file-format.js";
import { inspectLogDirectory, logFileName, LogFile, scanLog } from "./file-log.js";
import { pollUntil, waitedMs, type WaitPlan } from "./lock-wait.js";

/** A store directory opened for writing: its locked, replayed log and its commit record. */
export interface OpenedDirectory {
  /** The current log, locked by this process until closed, its records replayed into the index. */
  readonly log: LogFile;
  readonly commit: CommitFile;
  /** End of what is known to be on stable storage (see {@link CommitState.durableEnd}). */
  readonly durableEnd: number;
  /** The index came from the snapshot on disk, which still describes the log. */
  readonly fromSnapshot: boolean;
}

/** Rounds of step 3's retry before giving up (each round means a compaction or creation raced us). */
const MAX_RACES = 100;
/** Files earlier versions used as their lock; meaningless now, removed by the holder. */
const LEGACY_LOCK = /^LOCK(\..*)?$/;

/**
 * Takes the write lock on `dir` (creating the directory and its first log
 * if needed) and returns the locked current log, not yet read.
 *
 * @throws HearthError `LOCKED` when another handle or process holds it
 *   (with `plan`, once the wait runs out); `INTEGRITY` when the commit
 *   record exists but the log it describes does not; `STORAGE_FAILED`.
 */
export async function holdStoreDirectory(dir: string, plan: WaitPlan | undefined): Promise<LogFile> {
  let lastHolder: HolderRecord | undefined;
  const attempt = async (): Promise<LogFile | undefined> => {
    const held = await tryHoldCurrentLog(dir);
    if (held instanceof LogFile) return held;
    lastHolder = held.holder;
    return undefined;
  };
  const first = await attempt();
  if (first) return first;
  if (!plan) throw lockedError(dir, lastHolder);
  return pollUntil(attempt, plan, () => lockedError(dir, lastHolder, waitedMs(plan)));
}

/**
 * Opens the store in `dir` for writing: {@link holdStoreDirectory}, then
 * removes leftovers, records the holder, checks the log against the commit
 * record and replays it into `index`.
 *
 * @throws HearthError `LOCKED`; `INTEGRITY` for a log damaged in the middle
 *   or shorter than what was acknowledged; `STORAGE_FAILED`.
 */
export async function openStoreDirectory(dir: string, index: LogIndex, plan: WaitPlan | undefined): Promise<OpenedDirectory> {
  const log = await holdStoreDirectory(dir, plan);
  let commit: CommitFile | undefined;
  try {
    // Nothing is created or removed before the checks pass: a refused open leaves the directory as it found it.
    const recorded = CommitFile.read(dir);
    const found = recorded === "damaged" ? undefined : recorded;
    if (found && found.generation > log.generation) throw missingLog(dir, found.generation);
    const bound = found?.generation === log.generation ? found : undefined;
    const mustReach = bound ? requiredLogEnd(bound) : 0;
    if (log.size === 0 && mustReach === 0) await writeHeader(dir, log);
    // The snapshot of the last clean close, if this log is still exactly
    // the file it describes, or an earlier snapshot and the delta that
    // brings it to this log; otherwise replay the log (file-index-run.ts,
    // file-index-delta.ts).
    const snapshot = mustReach <= log.size && indexFromSnapshot(dir, index, log);
    if (!snapshot) {
      await scanLog(
        log,
        { del: (key) => index.del(key), put: (key, offset, length) => index.put(key, log, offset, length) },
        mustReach,
      );
    }
    await removeLeftovers(dir);
    const durableEnd = durableAtOpen(bound, log.size);
    commit = CommitFile.open(dir);
    commit.write({ generation: log.generation, ackedEnd: log.size, durableEnd, boot: currentBoot() });
    await recordHolder(dir);
    return { log, commit, durableEnd, fromSnapshot: snapshot };
  } catch (err) {
    commit?.close();
    await log.close().catch(() => undefined);
    throw err;
  }
}

/** One round of the lock protocol: the locked current log, or who holds it. */
async function tryHoldCurrentLog(dir: string): Promise<LogFile | { holder: HolderRecord | undefined }> {
  for (let race = 0; race < MAX_RACES; race++) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw storageFailed(`cannot create the store directory ${dir}`, cause);
    }
    const current = currentGeneration(dir);
    if (current === "gone") continue; // deleted (destroyed) between the mkdir and the listing
    const generation = current ?? 1;
    const path = join(dir, logFileName(generation));
    let fd: number;
    try {
      if (current === undefined && CommitFile.exists(dir)) throw missingLog(dir, undefined);
      fd = fs.openSync(path, current === undefined ? "wx+" : "r+", 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOENT") continue; // another opener created it, or compaction replaced it
      if (err instanceof HearthError) throw err;
      throw storageFailed(`cannot open the log ${path}`, err);
    }
    try {
      if (!tryLockExclusive(fd, path)) {
        closeQuietly(fd);
        return { holder: await readHolder(dir) };
      }
      const stat = fs.fstatSync(fd);
      if (stat.nlink > 0 && currentGeneration(dir) === generation) {
        return new LogFile(path, generation, fd, stat.size);
      }
    } catch (err) {
      closeQuietly(fd);
      throw err instanceof HearthError ? err : storageFailed(`cannot take the lock on ${path}`, err);
    }
    closeQuietly(fd); // locked a log that was replaced meanwhile: look again
  }
  throw new HearthError("STORAGE_FAILED", `the log of ${dir} kept changing while it was being opened; retry`);
}

/** The current log's generation in `dir`, `undefined` if it has none, `"gone"` if the directory itself is gone. */
function currentGeneration(dir: string): number | undefined | "gone" {
  try {
    return inspectLogDirectory(dir).current;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw storageFailed(`cannot list the store directory ${dir}`, err);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** Gives a log whose creation was interrupted (empty) its header, durably. */
async function writeHeader(dir: string, log: LogFile): Promise<void> {
  writeAllSync(log.fd, LOG_MAGIC, 0);
  await datasync(log.fd);
  await syncDirectory(dir);
  log.size = LOG_MAGIC.length;
}

/**
 * What can be taken as on stable storage right after the open: after a
 * reboot, everything read (it came from the disk); otherwise what the
 * record says, if it is about this log; else nothing.
 */
function durableAtOpen(bound: CommitState | undefined, logSize: number): number {
  if (!bound) return 0;
  if (bound.boot !== currentBoot()) return logSize;
  return Math.min(bound.durableEnd, logSize);
}

/** Deletes what interrupted work left: compaction temp files, older generations, old lock files, holder temps. */
async function removeLeftovers(dir: string): Promise<void> {
  const names = fs.readdirSync(dir);
  const { leftovers } = inspectLogDirectory(dir, names);
  const stale = [...leftovers, ...names.filter((name) => LEGACY_LOCK.test(name) || isHolderTemp(name) || name === INDEX_TEMP_FILE || name === INDEX_DELTA_TEMP_FILE)];
  for (const name of stale) await fs.promises.rm(join(dir, name), { force: true });
}

/** The `INTEGRITY` error for a store whose commit record names a log that is not there. */
function missingLog(dir: string, generation: number | undefined): HearthError {
  const which = generation === undefined ? "its log" : `its log (generation ${generation}, ${logFileName(generation)})`;
  return new HearthError(
    "INTEGRITY",
    `the store ${dir} lost acknowledged writes: its commit record says they are in ${which}, which is missing. ` +
      `Nothing was created or changed. Restore the directory from a backup or a replica ` +
      `(a ledger that syncs can be opened afresh and pulled again), or delete the whole directory to start empty.`,
  );
}

/**
 * Gives `index` its base from the snapshot on disk when it describes `log`
 * exactly, or when the delta beside it does (the snapshot being the one the
 * delta names). Returns whether it did; if not, `index` is untouched.
 */
function indexFromSnapshot(dir: string, index: LogIndex, log: LogFile): boolean {
  const now = logIdentity(log.fd, log.generation);
  // The delta (small) first, so the snapshot is read once, whichever of the two describes the log.
  const read = readDelta(dir);
  const delta = read && sameLog(read.log, now) ? read : undefined;
  const found = IndexRun.readSnapshot(dir, (identity, crc) => sameLog(identity, now) || (delta !== undefined && crc === delta.base.crc && sameLog(identity, delta.base.identity)));
  if (!found) return false;
  const viaDelta = !sameLog(found.identity, now);
  if (viaDelta && delta!.decided.length > 0 && delta!.decided[delta!.decided.length - 1]! >= found.run.count) {
    found.run.release();
    return false;
  }
  index.useBase(found.run, log, { identity: found.identity, crc: found.crc });
  if (viaDelta) index.applyDelta(delta!, log);
  return true;
}
