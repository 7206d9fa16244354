/**
 * The directory lock of the file store: one writer per directory, because
 * two processes appending to one log would interleave records and corrupt
 * it.
 *
 * The lock is a file `LOCK` holding the owner's pid. It is created
 * atomically *with* its content (written to a private temp file, then
 * hard-linked into place; `link` fails if `LOCK` exists), so nobody ever
 * reads a half-written lock. A lock whose pid is no longer alive was left
 * by a process killed with `kill -9` and is taken over. Node has no portable
 * `flock`, which is why liveness is judged by pid.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { HearthError } from "../errors.js";

const LOCK_NAME = "LOCK";

/** Directories this process holds locks on; our own pid in a lock is only ours if listed here. */
const heldByThisProcess = new Set<string>();

/** Releases a lock taken by {@link acquireDirectoryLock}. */
export type ReleaseLock = () => Promise<void>;

/**
 * Takes the lock on `dir`, taking over a stale one.
 *
 * @throws HearthError `LOCKED` when a live process (possibly this one, through
 * another open handle) holds it.
 */
export async function acquireDirectoryLock(dir: string): Promise<ReleaseLock> {
  const lockPath = join(dir, LOCK_NAME);
  const content = `${process.pid}\n`;
  // A few rounds cover the (rare) race of two processes taking over one stale lock.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await tryCreateLock(dir, lockPath, content)) {
      heldByThisProcess.add(dir);
      return () => releaseDirectoryLock(dir, lockPath, content);
    }
    const holder = await readLock(lockPath);
    if (holder === undefined) continue; // vanished between our attempt and the read
    if (isAlive(holder, dir)) throw lockedError(dir, holder);
    await removeStaleLock(dir, lockPath, holder);
  }
  throw new HearthError(
    "LOCKED",
    `could not take the lock on ${dir}: other processes keep taking it; close them and retry`,
  );
}

async function tryCreateLock(dir: string, lockPath: string, content: string): Promise<boolean> {
  const temp = join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(6).toString("hex")}`);
  await fs.promises.writeFile(temp, content, { mode: 0o600 });
  try {
    await fs.promises.link(temp, lockPath);
    return true;
  } catch (err) {
    if (errCode(err) === "EEXIST") return false;
    if (!["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"].includes(errCode(err) ?? "")) throw err;
    // The filesystem has no hard links: fall back to exclusive create.
    return createLockExclusively(lockPath, content);
  } finally {
    await fs.promises.rm(temp, { force: true });
  }
}

async function createLockExclusively(lockPath: string, content: string): Promise<boolean> {
  try {
    await fs.promises.writeFile(lockPath, content, { flag: "wx", mode: 0o600 });
    return true;
  } catch (err) {
    if (errCode(err) === "EEXIST") return false;
    throw err;
  }
}

/** The pid in the lock file, `NaN` if it holds no pid, `undefined` if there is no lock file. */
async function readLock(lockPath: string): Promise<number | undefined> {
  try {
    const text = await fs.promises.readFile(lockPath, "utf8");
    return /^\d+\n?$/.test(text) ? Number(text.trim()) : NaN;
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

function isAlive(pid: number, dir: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  // Our own pid is alive by definition; it is a live lock only if this
  // process took it (a previous process with the same pid may have died).
  if (pid === process.pid) return heldByThisProcess.has(dir);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return errCode(err) === "EPERM";
  }
}

/**
 * Removes a lock left by dead process `stalePid`. The lock is first renamed
 * to a private name, so that if another process replaced it with a fresh
 * lock in the meantime we notice (the content differs) and put it back
 * instead of deleting it.
 */
async function removeStaleLock(dir: string, lockPath: string, stalePid: number): Promise<void> {
  const aside = join(dir, `${LOCK_NAME}.stale.${process.pid}.${randomBytes(6).toString("hex")}`);
  try {
    await fs.promises.rename(lockPath, aside);
  } catch (err) {
    if (errCode(err) === "ENOENT") return;
    throw err;
  }
  const moved = await readLock(aside);
  if (moved !== stalePid && !(Number.isNaN(moved) && Number.isNaN(stalePid))) {
    await fs.promises.link(aside, lockPath).catch(() => undefined);
  }
  await fs.promises.rm(aside, { force: true });
}

async function releaseDirectoryLock(dir: string, lockPath: string, content: string): Promise<void> {
  heldByThisProcess.delete(dir);
  try {
    if ((await fs.promises.readFile(lockPath, "utf8")) === content) await fs.promises.unlink(lockPath);
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
  }
}

/** Forgets this process's claim on `dir` without touching the disk (the directory was deleted). */
export function forgetDirectoryLock(dir: string): void {
  heldByThisProcess.delete(dir);
}

function lockedError(dir: string, pid: number): HearthError {
  const who = pid === process.pid ? "this process (another open handle)" : `process ${pid}`;
  return new HearthError(
    "LOCKED",
    `${dir} is in use by ${who}. Close the other handle or stop that process; ` +
      `if no Hearth process uses it, delete ${join(dir, LOCK_NAME)}.`,
  );
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
