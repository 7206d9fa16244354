/**
 * One log file of the file store: its descriptor, its committed length, the
 * open-time scan that rebuilds the index and cuts off a torn tail, and the
 * naming rules that let a crash at any instant of compaction leave exactly
 * one complete log to open.
 *
 * Naming: `log-<generation>.hlog`, generation a positive integer. The log
 * with the highest generation is the current one. A new generation is only
 * ever created as `….hlog.tmp`, fsynced, then renamed into place, so a
 * `.hlog` file is always complete; leftovers (`.tmp` files, lower
 * generations) are deleted at open.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { FRAME_HEADER_BYTES, isValidRecord, LOG_MAGIC, payloadLengthAt, replayRecord, type RecordVisitor } from "./file-format.js";
import { closeFd, datasync, fullsync, readAtMost, syncDirectory, writeAll } from "./file-io.js";
import type { LogIndex } from "./file-index.js";

/** Scan window: large enough that a 10 MB log is read in a handful of syscalls. */
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

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

/** Finds the current log and the leftovers of interrupted compactions in `dir`. */
export async function inspectLogDirectory(dir: string): Promise<LogDirectory> {
  const names = await fs.promises.readdir(dir);
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
 * returns its descriptor, open for reading and positioned writing. The
 * caller fills it, then calls {@link publishLog}.
 */
export async function createTempLog(dir: string, generation: number): Promise<{ path: string; fd: number }> {
  const path = join(dir, `${logFileName(generation)}.tmp`);
  const fd = fs.openSync(path, "w+", 0o600);
  try {
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

/** Opens the complete log of `generation` for reading and positioned writing. */
export function openLog(dir: string, generation: number): LogFile {
  const path = join(dir, logFileName(generation));
  const fd = fs.openSync(path, "r+");
  return new LogFile(path, generation, fd, fs.fstatSync(fd).size);
}

/** Thrown when a log file does not start with the Hearth log magic. */
export class ForeignLogError extends Error {}

/**
 * Replays every valid record of `log` into `visitor` (value offsets made
 * absolute), then cuts the file after the last valid record. Returns the
 * number of bytes cut off (0 for a clean log).
 */
export async function scanLog(log: LogFile, visitor: RecordVisitor): Promise<number> {
  const fileSize = log.size;
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
    // A torn or corrupt tail: drop it so the next append starts on a record
    // boundary, and make the cut durable before anything is appended.
    fs.ftruncateSync(log.fd, pos);
    await datasync(log.fd);
    log.size = pos;
  }
  return cut;
}

/**
 * Opens the newest log of `dir` (creating the first one), replays it into
 * `index`, and deletes leftovers of interrupted compactions.
 */
export async function openCurrentLog(dir: string, index: LogIndex): Promise<LogFile> {
  const found = await inspectLogDirectory(dir);
  for (const name of found.leftovers) await fs.promises.rm(join(dir, name), { force: true });
  let generation = found.current;
  if (generation === undefined) {
    generation = 1;
    const fresh = await createTempLog(dir, generation);
    try {
      await publishLog(dir, fresh.path, fresh.fd);
    } finally {
      fs.closeSync(fresh.fd);
    }
  }
  const log = openLog(dir, generation);
  try {
    await scanLog(log, {
      del: (key) => index.del(key),
      put: (key, offset, length) => index.put(key, log, offset, length),
    });
  } catch (err) {
    await log.close();
    throw err;
  }
  return log;
}
