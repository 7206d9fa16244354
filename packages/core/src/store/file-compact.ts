/**
 * Compaction's I/O: copying the live values of the current log into a new
 * generation, and copying the records appended meanwhile. The decisions
 * (when to compact, when to switch) live in the store; this module only
 * moves bytes, so it can be read and tested for what it copies.
 *
 * Why it is crash-safe: everything here writes to a `.tmp` file that open
 * ignores and deletes. The new log becomes visible only through
 * {@link publishLog}'s fsync-then-rename, after which it is complete.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { encodeRecord } from "./file-format.js";
import type { ValueLocation } from "./file-index.js";
import { readExact, writeAll } from "./file-io.js";
import { createTempLog, type LogFile } from "./file-log.js";

/** Values are read from the old log in windows of this size (bigger values alone). */
const READ_WINDOW_BYTES = 4 * 1024 * 1024;
/** Live puts are packed into records of about this payload size. */
const RECORD_TARGET_BYTES = 1024 * 1024;

/** A filled, not yet published, new log generation. */
export interface CompactedLog {
  readonly tempPath: string;
  readonly fd: number;
  /** Bytes written so far (the next byte goes here). */
  size: number;
  /** New value offset of every copied key. */
  readonly newOffsets: Map<string, number>;
}

/**
 * Writes the values of `entries` (all in `source`, in file order) into a new
 * `.tmp` log of `generation`. Returns `undefined` (and deletes the temp file)
 * if `shouldStop()` turns true between records, which is how close() stops
 * a compaction early.
 */
export async function copyLiveValues(
  dir: string,
  source: LogFile,
  generation: number,
  entries: ReadonlyArray<readonly [string, ValueLocation]>,
  shouldStop: () => boolean,
): Promise<CompactedLog | undefined> {
  const { path: tempPath, fd } = await createTempLog(dir, generation);
  const out: CompactedLog = { tempPath, fd, size: 0, newOffsets: new Map() };
  out.size = fs.fstatSync(fd).size;
  try {
    let window = Buffer.allocUnsafe(0);
    let windowStart = 0;
    let pending: Array<[string, Uint8Array]> = [];
    let pendingBytes = 0;

    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const record = encodeRecord({ put: pending });
      await writeAll(fd, record.bytes, out.size);
      for (const put of record.puts) out.newOffsets.set(put.key, out.size + put.valueOffset);
      out.size += record.bytes.length;
      pending = [];
      pendingBytes = 0;
    };

    for (const [key, loc] of entries) {
      if (shouldStop()) {
        await discard(out);
        return undefined;
      }
      const inWindow = loc.offset >= windowStart && loc.offset + loc.length <= windowStart + window.length;
      if (!inWindow) {
        await flush(); // pending values are views of the window about to be replaced
        window = Buffer.allocUnsafe(Math.max(loc.length, Math.min(READ_WINDOW_BYTES, source.size - loc.offset)));
        windowStart = loc.offset;
        source.beginRead();
        try {
          await readExact(source.fd, window, windowStart);
        } finally {
          source.endRead();
        }
      }
      pending.push([key, window.subarray(loc.offset - windowStart, loc.offset - windowStart + loc.length)]);
      pendingBytes += loc.length + key.length;
      if (pendingBytes >= RECORD_TARGET_BYTES) await flush();
    }
    await flush();
    return out;
  } catch (err) {
    await discard(out);
    throw err;
  }
}

/** Appends the bytes `source[from, to)` (whole records) to `target`. */
export async function copyTail(source: LogFile, from: number, to: number, target: CompactedLog): Promise<void> {
  const chunk = Buffer.allocUnsafe(Math.min(READ_WINDOW_BYTES, Math.max(to - from, 0)));
  for (let pos = from; pos < to; ) {
    const view = chunk.subarray(0, Math.min(chunk.length, to - pos));
    await readExact(source.fd, view, pos);
    await writeAll(target.fd, view, target.size);
    target.size += view.length;
    pos += view.length;
  }
}

/** Closes and deletes an unpublished compaction output. */
export async function discard(log: CompactedLog): Promise<void> {
  await fs.promises.rm(log.tempPath, { force: true });
  try {
    fs.closeSync(log.fd);
  } catch {
    // already closed
  }
}
