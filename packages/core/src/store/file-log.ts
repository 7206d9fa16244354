/**
 * One log file of the file store: its descriptor, its committed length, the
 * open-time scan that rebuilds the index and cuts off a torn tail (but
 * refuses a log damaged in the middle or shorter than what was
 * acknowledged), and the naming rules that let a crash at any instant of
 * compaction leave exactly one complete log to open.
 *
 * Naming: `log-<generation>.hlog`, generation a positive integer. The log
 * with the highest generation is the current one. A new generation is only
 * ever created as `….hlog.tmp`, fsynced, then renamed into place, so a
 * `.hlog` file is always complete; leftovers (`.tmp` files, lower
 * generations) are deleted at open. The one exception is the first log,
 * created in place (exclusively, so two openers cannot both create it) and
 * given its header by whoever locks it: an empty log is one whose creation
 * was interrupted. Opening, locking and checking a directory's log is
 * {@link ./file-open}'s job.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { HearthError } from "../errors.js";
import {
  couldStartRecord,
  FRAME_HEADER_BYTES,
  isValidRecord,
  LOG_MAGIC,
  payloadLengthAt,
  RECORD_PROBE_BYTES,
  replayRecord,
  type RecordVisitor,
} from "./file-format.js";
import { closeFd, datasync, fullsync, readAtMost, readExact, writeAll } from "./file-io.js";
import { syncDirectory } from "./durable-file.js";
import { tryLockExclusive } from "./file-lock.js";

/** Scan window: a 10 MB log is read in ten syscalls, and a reopen's peak memory stays low. */
const SCAN_CHUNK_BYTES = 1024 * 1024;

/** The file name of generation `generation`. */
export function logFileName(generation: number): string {
  return `log-${String(generation).padStart(8, "0")}.hlog`;
}

const LOG_NAME = /^log-(\d+)\.hlog$/;

/**
 * An open log file. Positioned reads of values may be in flight on a file
 * that compaction has just replaced; {@link LogFile.retire} therefore closes
 * the descriptor only once the last such read has finished.
 */
export class LogFile {
  /** Bytes of committed records (plus the magic); the next record is written here. */
  size: number;
  private reads = 0;
  private closeWhenIdle = false;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(
    readonly path: string,
    readonly generation: number,
    readonly fd: number,
    size: number,
  ) {
    this.size = size;
  }

  /** Marks an asynchronous read as in flight, keeping the descriptor open until {@link endRead}. */
  beginRead(): void {
    this.reads++;
  }

  /** Ends what {@link beginRead} began. */
  endRead(): void {
    this.reads--;
    if (this.reads === 0 && this.idle) this.idle();
  }

  /** Closes the descriptor once no read is in flight. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closeWhenIdle = true;
      this.closing = (async () => {
        if (this.reads > 0) await new Promise<void>((resolve) => (this.idle = resolve));
        await closeFd(this.fd);
      })();
    }
    return this.closing;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closeWhenIdle;
  }
}

/** What a directory holds: the current log's generation (if any) and files to delete. */
export interface LogDirectory {
  readonly current: number | undefined;
  readonly leftovers: string[];
}

/**
 * Finds the current log and the leftovers of interrupted compactions in
 * `dir`, given its file names (`names`: read here if not given).
 *
 * Synchronous: a store directory holds a handful of files, and an open
 * lists it three times; as thread-pool hops those listings (with the
 * `mkdir` before them) were ~2 ms of the ~25 ms a fresh process took to
 * open a million-document ledger and read one document.
 */
export function inspectLogDirectory(dir: string, names: readonly string[] = fs.readdirSync(dir)): LogDirectory {
  const generations: number[] = [];
  const leftovers: string[] = [];
  for (const name of names) {
    const match = LOG_NAME.exec(name);
    if (match) generations.push(Number(match[1]));
    else if (name.endsWith(".hlog.tmp")) leftovers.push(name);
  }
  generations.sort((a, b) => a - b);
  const current = generations.pop();
  for (const g of generations) leftovers.push(logFileName(g));
  return { current, leftovers };
}

/**
 * Creates generation `generation` as an empty `.tmp` log (magic only) and
 * returns its descriptor, open for reading and positioned writing, and
 * already holding the write lock ({@link ./file-lock}): once published it
 * is the log an opener locks, and it must never be free in between. The
 * caller fills it, then calls {@link publishLog}.
 */
export async function createTempLog(dir: string, generation: number): Promise<{ path: string; fd: number }> {
  const path = join(dir, `${logFileName(generation)}.tmp`);
  const fd = fs.openSync(path, "w+", 0o600);
  try {
    if (!tryLockExclusive(fd, path)) throw new Error(`${path} is locked by someone else`);
    await writeAll(fd, LOG_MAGIC, 0);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return { path, fd };
}

/** Makes a filled `.tmp` log durable and renames it into place as the current generation. */
export async function publishLog(dir: string, tempPath: string, fd: number): Promise<string> {
  await fullsync(fd);
  const finalPath = tempPath.slice(0, -".tmp".length);
  await fs.promises.rename(tempPath, finalPath);
  await syncDirectory(dir);
  return finalPath;
}

/** Thrown when a log file does not start with the Hearth log magic. */
export class ForeignLogError extends Error {}

/**
 * Replays every valid record of `log` into `visitor` (value offsets made
 * absolute), then cuts the file after the last valid record. Returns the
 * number of bytes cut off (0 for a clean log).
 *
 * Only a torn tail is cut: if a complete valid record follows the first bad
 * one, the log is damaged in the middle; if the valid records end before
 * `mustReach` (what the commit record says was acknowledged), acknowledged
 * records are missing. Either way the file is left untouched and the scan
 * rejects (what `visitor` saw by then must be thrown away).
 *
 * @throws HearthError `INTEGRITY` for damage in the middle of the log or a
 *   log that ends before `mustReach`.
 */
export async function scanLog(log: LogFile, visitor: RecordVisitor, mustReach = 0): Promise<number> {
  const fileSize = log.size;
  if (fileSize < mustReach) throw missingAcknowledged(log, fileSize, mustReach, "the file ends");
  let window = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(fileSize, LOG_MAGIC.length)));
  let windowStart = 0;
  let windowLength = 0;

  /** Makes file bytes [pos, pos + n) available in `window`; false if the file is shorter. */
  const ensure = async (pos: number, n: number): Promise<boolean> => {
    if (pos + n > fileSize) return false;
    if (pos >= windowStart && pos + n <= windowStart + windowLength) return true;
    if (n > window.length) window = Buffer.allocUnsafe(Math.max(n, SCAN_CHUNK_BYTES));
    windowStart = pos;
    windowLength = await readAtMost(log.fd, window.subarray(0, Math.min(window.length, fileSize - pos)), pos);
    return pos + n <= windowStart + windowLength;
  };

  if (!(await ensure(0, LOG_MAGIC.length)) || !window.subarray(0, LOG_MAGIC.length).equals(LOG_MAGIC)) {
    throw new ForeignLogError(`${log.path} is not a Hearth log (wrong or missing header)`);
  }
  let pos = LOG_MAGIC.length;
  for (;;) {
    // Replay every record wholly inside the window without awaiting: an
    // await per record (a promise and a microtask turn) would cost more
    // than the parsing itself.
    const windowEnd = windowStart + windowLength;
    let torn = false;
    while (pos + FRAME_HEADER_BYTES <= windowEnd) {
      const recordLength = FRAME_HEADER_BYTES + payloadLengthAt(window, pos - windowStart);
      if (pos + recordLength > windowEnd) break;
      if (!isValidRecord(window, pos - windowStart, recordLength)) {
        torn = true;
        break;
      }
      replayRecord(window, pos - windowStart, recordLength, pos, visitor);
      pos += recordLength;
    }
    if (torn || !(await ensure(pos, FRAME_HEADER_BYTES))) break;
    const recordLength = FRAME_HEADER_BYTES + payloadLengthAt(window, pos - windowStart);
    if (!(await ensure(pos, recordLength))) break; // runs past the end of the file: torn
  }
  const cut = fileSize - pos;
  if (cut > 0) {
    // Checked only here, after the last valid record, so a clean open pays nothing for it.
    const intact = await findIntactRecordAfter(log.fd, pos, fileSize);
    if (intact !== undefined) throw await damagedInTheMiddle(log, pos, intact);
  }
  if (pos < mustReach) throw missingAcknowledged(log, pos, mustReach, "its valid records end");
  if (cut > 0) {
    // A torn tail: drop it so the next append starts on a record
    // boundary, and make the cut durable before anything is appended.
    fs.ftruncateSync(log.fd, pos);
    await datasync(log.fd);
    log.size = pos;
  }
  return cut;
}

/**
 * The `INTEGRITY` error for a log whose valid records end at `end`, before
 * `mustReach`, the end of what was acknowledged (the commit record).
 */
function missingAcknowledged(log: LogFile, end: number, mustReach: number, what: string): HearthError {
  return new HearthError(
    "INTEGRITY",
    `the store log ${log.path} lost acknowledged writes: ${what} at byte ${end}, ` +
      `but writes were acknowledged up to byte ${mustReach} (recorded in COMMIT beside it). ` +
      `It was truncated or damaged, perhaps copied while in use or restored incompletely; nothing was cut off or changed. ` +
      `Restore the store's directory from a backup or a replica (a ledger that syncs can be opened afresh and pulled again). ` +
      `Or, to open it with only what is left, first keep a copy of the directory, then delete its COMMIT file.`,
  );
}

/**
 * The offset of the first complete, valid record that starts after the bad
 * bytes at `damagedAt`, or `undefined` if none does (a torn tail).
 *
 * The record the bad frame's own length points at is tried first: after a
 * flipped payload byte that is where the next record is. Then every later
 * byte offset is tried, in case the length field itself is what broke.
 * Offsets inside the damaged bytes can only yield a "record" if a value
 * stored there contains a whole framed record with a valid CRC, which a
 * torn write of such a value would turn into a false alarm; values the
 * ledger stores are ciphertext, where that does not happen by chance.
 */
async function findIntactRecordAfter(fd: number, damagedAt: number, fileSize: number): Promise<number | undefined> {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  if ((await readAtMost(fd, header, damagedAt)) === FRAME_HEADER_BYTES) {
    const next = damagedAt + FRAME_HEADER_BYTES + payloadLengthAt(header, 0);
    if (next > damagedAt + FRAME_HEADER_BYTES && (await isIntactRecordAt(fd, next, fileSize))) return next;
  }
  const window = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, fileSize - damagedAt));
  let windowStart = damagedAt;
  let windowEnd = damagedAt;
  // A record is longer than its header, so none can start in the last FRAME_HEADER_BYTES.
  for (let at = damagedAt + 1; at + FRAME_HEADER_BYTES < fileSize; ) {
    if (at + Math.min(RECORD_PROBE_BYTES, fileSize - at) > windowEnd) {
      windowStart = at;
      windowEnd = at + (await readAtMost(fd, window, at));
    }
    // Probe every offset whose probe bytes are all in the window without awaiting.
    const lastProbe = windowEnd === fileSize ? fileSize - FRAME_HEADER_BYTES - 1 : windowEnd - RECORD_PROBE_BYTES;
    for (; at <= lastProbe; at++) {
      const local = at - windowStart;
      const recordLength = FRAME_HEADER_BYTES + payloadLengthAt(window, local);
      if (at + recordLength > fileSize || !couldStartRecord(window, local, recordLength)) continue;
      const valid = at + recordLength <= windowEnd ? isValidRecord(window, local, recordLength) : await isIntactRecordAt(fd, at, fileSize);
      if (valid) return at;
    }
  }
  return undefined;
}

/** True when a complete, valid record starts at `at` (read on its own, since it may be large). */
async function isIntactRecordAt(fd: number, at: number, fileSize: number): Promise<boolean> {
  if (at + FRAME_HEADER_BYTES >= fileSize) return false;
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  await readExact(fd, header, at);
  const recordLength = FRAME_HEADER_BYTES + payloadLengthAt(header, 0);
  if (at + recordLength > fileSize) return false;
  const probe = Buffer.allocUnsafe(Math.min(recordLength, RECORD_PROBE_BYTES));
  await readExact(fd, probe, at);
  if (!couldStartRecord(probe, 0, recordLength)) return false;
  const record = Buffer.allocUnsafe(recordLength);
  await readExact(fd, record, at);
  return isValidRecord(record, 0, recordLength);
}

/** The `INTEGRITY` error for a log whose bad bytes at `damagedAt` are followed by the valid record at `intactAt`. */
async function damagedInTheMiddle(log: LogFile, damagedAt: number, intactAt: number): Promise<HearthError> {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  await readAtMost(log.fd, header, damagedAt);
  const payloadLength = payloadLengthAt(header, 0);
  const what =
    damagedAt + FRAME_HEADER_BYTES + payloadLength > log.size
      ? `declares ${payloadLength} bytes, more than the file holds`
      : payloadLength === 0
        ? "declares an empty payload"
        : "fails its checksum";
  const following = log.size - damagedAt;
  return new HearthError(
    "INTEGRITY",
    `the store log ${log.path} is damaged in the middle: the record at byte ${damagedAt} ${what}, ` +
      `yet ${following} bytes follow it, with a valid record at byte ${intactAt}. ` +
      `This is not a torn write, so nothing was cut off or changed. ` +
      `Restore the store's directory from a backup or a replica (a ledger that syncs can be opened afresh and pulled again). ` +
      `Or, to keep every batch before byte ${damagedAt} and drop the ${following} bytes from there on ` +
      `(kept in a copy for recovery), with no process using the store run: ` +
      `cp -p "${log.path}" "${log.path}.damaged" && ` +
      `node -e "require('node:fs').truncateSync(process.argv[1], ${damagedAt})" "${log.path}" && ` +
      `rm "${join(dirname(log.path), "COMMIT")}"`,
  );
}
