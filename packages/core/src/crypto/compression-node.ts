/**
 * Node's zlib deflate-raw for {@link Compression}: synchronous, ~15 µs for
 * a few KiB. Node-only.
 *
 * The window is 8 KiB (`windowBits` 13) and the hash table small
 * (`memLevel` 7), not zlib's 32 KiB / level 8: each call allocates and
 * clears ~96 KiB of state instead of ~256 KiB, which made it a quarter
 * faster per tree node (measured: 19.8 → 15.1 µs for a 4.8 KiB node, same
 * output size) and, over a million-document load, kept the allocator from
 * holding on to a few hundred MB of freed zlib state. Values larger than
 * the window compress ~3 % worse (a 140 KiB event segment). Readers are
 * unaffected: inflate with the default window reads any smaller one.
 *
 * Inflate is told the output's length (frames written since flag 2, see
 * `compression.ts`) and sizes zlib's output chunk to it: one allocation
 * (one byte longer: output that fills its chunk exactly makes Node
 * allocate a second chunk to learn the stream has ended), returned as is,
 * where the default 16 KiB chunks were joined and then copied to size by
 * the node cache. The chunk is capped, so a damaged length costs at most
 * that much before the caller rejects it. Deflate's chunk is sized to the
 * most its input can become, not 16 KiB: a 4 KiB node allocated 16 KiB to
 * return a slice of it. Measured over a 100,000-document random-id load:
 * the buffers zlib's calls allocate, 90 → 50 MB.
 *
 * @module
 */
import { deflateRawSync, inflateRawSync, constants } from "node:zlib";
import type { Compression } from "./compression.js";

const DEFLATE_OPTIONS = { level: constants.Z_BEST_SPEED, windowBits: 13, memLevel: 7 } as const;
/** Largest output chunk sized from a frame's length; longer values inflate in chunks this size. */
const MAX_SIZED_CHUNK = 1024 * 1024;

/** Node's zlib, at a fast level and a small window: values are small and written often. */
export const nodeCompression: Compression = {
  deflate: (bytes) => deflateRawSync(bytes, { ...DEFLATE_OPTIONS, chunkSize: sizedChunk(deflateBound(bytes.length)) }),
  inflate: (bytes, length) => (length === undefined ? inflateRawSync(bytes) : inflateRawSync(bytes, { chunkSize: sizedChunk(length) })),
};

/**
 * zlib's output chunk for a value expected to be `bytes` long: one byte
 * more, because an output that fills its chunk exactly makes Node allocate
 * a second chunk and call zlib again to learn that the stream has ended.
 */
function sizedChunk(bytes: number): number {
  return Math.min(Math.max(bytes + 1, constants.Z_MIN_CHUNK), MAX_SIZED_CHUNK);
}

/** The most bytes deflate-raw can turn `length` bytes into (zlib's `deflateBound` for stored blocks, with room to spare). */
function deflateBound(length: number): number {
  return length + (length >>> 12) + (length >>> 14) + (length >>> 25) + 16;
}
