/**
 * What `_files` accepts as a file's content, and how it is read a chunk at
 * a time: `Uint8Array`, `Blob` (and so `File`, and Node's
 * `fs.openAsBlob(path)`, which reads from disk as it is sliced) or a
 * `ReadableStream<Uint8Array>`. A `Blob` is read one slice per chunk (the
 * next slice read while the caller works on this one) and a stream is read
 * as it comes, so writing a file holds about two chunks in memory whatever
 * its size.
 *
 * Portable.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/** File content `_files` accepts. */
export type FileInput = Uint8Array | Blob | ReadableStream<Uint8Array>;

/** Type given to content that does not say its own (bytes, streams, untyped blobs). */
export const DEFAULT_FILE_TYPE = "application/octet-stream";

/** What a file's content says of itself. */
export interface InputInfo {
  /** MIME type: the Blob's own, or {@link DEFAULT_FILE_TYPE}. */
  readonly type: string;
  /** A `File`'s modification time (ms since the epoch). */
  readonly lastModified?: number;
}

/** True for content `_files` accepts (see {@link FileInput}). */
export function isFileInput(value: unknown): value is FileInput {
  return value instanceof Uint8Array || isBlob(value) || isReadableStream(value);
}

/** Bytes in `value` where it says (bytes, Blobs); -1 for a stream. */
export function sizeOf(value: FileInput): number {
  if (value instanceof Uint8Array) return value.length;
  return isBlob(value) ? value.size : -1;
}

/** The type and modification time `value` carries. */
export function inputInfo(value: FileInput): InputInfo {
  if (!isBlob(value)) return { type: DEFAULT_FILE_TYPE };
  const type = value.type === "" ? DEFAULT_FILE_TYPE : value.type;
  const lastModified = (value as { lastModified?: unknown }).lastModified;
  return typeof lastModified === "number" && Number.isFinite(lastModified) ? { type, lastModified } : { type };
}

/**
 * The content of `input` in chunks of exactly `chunkBytes` (the last one
 * shorter; none for empty content). Each chunk is a fresh copy, so a
 * caller that changes its array afterwards changes nothing stored.
 * @throws HearthError `INVALID_DOC` when a stream yields something other than `Uint8Array`s;
 *   the stream's or Blob's own error (as `cause` of `STORAGE_FAILED`) when reading fails
 */
export async function* chunksOf(input: FileInput, chunkBytes: number, where: string): AsyncGenerator<Uint8Array> {
  if (input instanceof Uint8Array) {
    // Uint8Array's own slice: a Buffer's slice() is a view, not a copy.
    for (let at = 0; at < input.length; at += chunkBytes) yield Uint8Array.prototype.slice.call(input, at, at + chunkBytes);
    return;
  }
  if (isBlob(input)) {
    // One slice read ahead: the next chunk comes off the disk (Node reads a
    // file-backed Blob on its thread pool) while the caller seals this one.
    const read = (at: number): Promise<ArrayBuffer> => {
      const reading = input.slice(at, at + chunkBytes).arrayBuffer();
      reading.catch(() => undefined); // awaited below, or dropped with the generator
      return reading;
    };
    let next = input.size > 0 ? read(0) : undefined;
    for (let at = 0; next !== undefined; at += chunkBytes) {
      let buffer: ArrayBuffer;
      try {
        buffer = await next;
      } catch (cause) {
        throw new HearthError("STORAGE_FAILED", `could not read ${where} (at byte ${at}); check that the file is still there and readable, then put it again`, { cause });
      }
      next = at + chunkBytes < input.size ? read(at + chunkBytes) : undefined;
      yield new Uint8Array(buffer);
    }
    return;
  }
  yield* streamChunks(input, chunkBytes, where);
}

async function* streamChunks(stream: ReadableStream<Uint8Array>, chunkBytes: number, where: string): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let pending = new Uint8Array(chunkBytes);
  let filled = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        throw new HearthError("STORAGE_FAILED", `the stream given for ${where} failed; nothing was written`, { cause });
      }
      if (next.done) break;
      const piece = next.value as unknown;
      if (!(piece instanceof Uint8Array)) {
        throw new HearthError("INVALID_DOC", `the stream given for ${where} yielded ${typeof piece}, not Uint8Array; pipe text through a TextEncoderStream`);
      }
      for (let at = 0; at < piece.length; ) {
        const take = Math.min(piece.length - at, chunkBytes - filled);
        pending.set(piece.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === chunkBytes) {
          yield pending;
          pending = new Uint8Array(chunkBytes);
          filled = 0;
        }
      }
    }
    if (filled > 0) yield pending.slice(0, filled);
  } finally {
    reader.releaseLock();
  }
}

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== "undefined" && value instanceof Blob;
}

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== "undefined" && value instanceof ReadableStream;
}
