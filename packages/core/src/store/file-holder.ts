/**
 * Who holds a file store: a small `HOLDER` file the lock holder writes
 * after taking the lock, read by a second opener only to say in its
 * `LOCKED` error who is in the way. It decides nothing: the lock is the
 * kernel's ({@link ./file-lock}); deleting or editing this file changes
 * only the message.
 *
 * A pid alone misleads across containers (each PID namespace numbers its
 * own processes), so the record also names the host (a container's own
 * hostname) and the PID namespace.
 *
 * Node-only.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { HearthError } from "../errors.js";

const HOLDER_NAME = "HOLDER";
const HOLDER_TEMP_PREFIX = `${HOLDER_NAME}.tmp-`;

/** What `HOLDER` says about the process holding the store. */
export interface HolderRecord {
  readonly pid: number;
  readonly host: string;
  /** `pid:[…]` on Linux; absent elsewhere. */
  readonly pidNamespace?: string;
  /** ISO time the holder opened the store. */
  readonly since: string;
}

let ownPidNamespace: string | undefined | null = null;

/** This process's PID namespace (`pid:[4026531836]`), where the system tells. */
function pidNamespace(): string | undefined {
  if (ownPidNamespace === null) {
    try {
      ownPidNamespace = fs.readlinkSync("/proc/self/ns/pid");
    } catch {
      ownPidNamespace = undefined;
    }
  }
  return ownPidNamespace;
}

function ownRecord(): HolderRecord {
  const ns = pidNamespace();
  return { pid: process.pid, host: hostname(), ...(ns && { pidNamespace: ns }), since: new Date().toISOString() };
}

/**
 * Records this process as the holder of `dir` (replacing the file
 * atomically, so a reader never sees half a record). Best effort: a store
 * whose record cannot be written still works, its `LOCKED` errors just
 * name nobody.
 */
export async function recordHolder(dir: string): Promise<void> {
  const record = `${JSON.stringify(ownRecord())}\n`;
  // Not flushed: a hint for error messages, worthless after a power loss anyway. Written with
  // synchronous calls: a few small ones cost less than four thread-pool hops (~2 ms of an open).
  const temp = join(dir, `${HOLDER_TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
  try {
    fs.writeFileSync(temp, record, { mode: 0o600, flag: "wx" });
    fs.renameSync(temp, join(dir, HOLDER_NAME));
  } catch {
    fs.rmSync(temp, { force: true });
  }
}

/** Removes the record at a clean close (best effort). */
export async function clearHolder(dir: string): Promise<void> {
  await fs.promises.rm(join(dir, HOLDER_NAME), { force: true }).catch(() => undefined);
}

/** True for leftovers of {@link recordHolder} that a crash left behind. */
export function isHolderTemp(name: string): boolean {
  return name.startsWith(HOLDER_TEMP_PREFIX);
}

/** The recorded holder of `dir`, or `undefined` if none is recorded (or the record is unreadable). */
export async function readHolder(dir: string): Promise<HolderRecord | undefined> {
  try {
    const parsed = JSON.parse(await fs.promises.readFile(join(dir, HOLDER_NAME), "utf8")) as Partial<HolderRecord>;
    if (!Number.isSafeInteger(parsed.pid) || typeof parsed.host !== "string" || typeof parsed.since !== "string") return undefined;
    return parsed as HolderRecord;
  } catch {
    return undefined;
  }
}

/** Names `holder` relative to this process, for a message. */
export function describeHolder(holder: HolderRecord | undefined): string {
  if (!holder) return "another handle or process";
  const own = ownRecord();
  const sameHost = holder.host === own.host;
  const sameNamespace = holder.pidNamespace === own.pidNamespace;
  const since = ` since ${holder.since}`;
  if (sameHost && sameNamespace && holder.pid === own.pid) return `this process (another open handle)${since}`;
  if (sameHost && sameNamespace) return `process ${holder.pid}${since}`;
  if (sameHost) return `process ${holder.pid} of another PID namespace (another container?) on ${holder.host}${since}`;
  return `process ${holder.pid} on host ${holder.host}${since}`;
}

/**
 * The `LOCKED` error for `dir`. It never suggests deleting anything: the
 * lock is released by the holder closing the store or exiting, and by
 * nothing else.
 */
export function lockedError(dir: string, holder: HolderRecord | undefined, waitedMs?: number): HearthError {
  const waited = waitedMs === undefined ? "" : ` (still, after waiting ${Math.round(waitedMs)} ms)`;
  return new HearthError(
    "LOCKED",
    `the store ${dir} is open for writing by ${describeHolder(holder)}${waited}. ` +
      `Close that handle or stop that process, or open with { wait: true } to wait until it is free.`,
  );
}
