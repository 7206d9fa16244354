/**
 * Thin, fast wrappers over Node's file-descriptor I/O for the file store.
 *
 * Callback-style `node:fs` calls wrapped in promises cost noticeably less per
 * call than `fs/promises` `FileHandle` methods, and the store's small writes
 * and reads use the synchronous forms outright: a write or read of a few
 * KiB that hits the page cache takes a few microseconds, far less than a
 * round trip through libuv's thread pool. Large transfers and `fdatasync`
 * stay asynchronous so they never stall the event loop for long.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { HearthError } from "../errors.js";

/** Transfers up to this size use synchronous syscalls; larger ones go through the thread pool. */
export const SYNC_IO_LIMIT = 64 * 1024;

/** Wraps an I/O failure as the store's documented error, keeping the original as `cause`. */
export function storageFailed(what: string, cause: unknown): HearthError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new HearthError(
    "STORAGE_FAILED",
    `${what}${detail}. Check free disk space and permissions of the directory, then retry.`,
    { cause },
  );
}

/** Writes all of `data` at `position`, looping over short writes. */
export function writeAllSync(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) {
    done += fs.writeSync(fd, data, done, data.length - done, position + done);
  }
}

/** Writes all of `data` at `position` without blocking the event loop. */
export async function writeAll(fd: number, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await new Promise<number>((resolve, reject) => {
      fs.write(fd, data, done, data.length - done, position + done, (err, written) => (err ? reject(err) : resolve(written)));
    });
  }
}

/** Fills `target` from `position`; a short file is an error (the index promised those bytes). */
export function readExactSync(fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += n;
  }
}

/** Fills `target` from `position` without blocking the event loop. */
export async function readExact(fd: number, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const n = await new Promise<number>((resolve, reject) => {
      fs.read(fd, target, done, target.length - done, position + done, (err, read) => (err ? reject(err) : resolve(read)));
    });
    if (n === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += n;
  }
}

/** Reads up to `target.length` bytes at `position`; returns how many (fewer only at end of file). */
export async function readAtMost(fd: number, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const n = await new Promise<number>((resolve, reject) => {
      fs.read(fd, target, done, target.length - done, position + done, (err, read) => (err ? reject(err) : resolve(read)));
    });
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** `fdatasync`: the file's data (and the size needed to read it) reach stable storage. */
export function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** `fsync`: data and all metadata. */
export function fullsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Closes `fd`. */
export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

