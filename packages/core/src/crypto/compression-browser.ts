/**
 * Deflate-raw for {@link Compression} in browsers, from fflate (pure
 * JavaScript, synchronous, MIT, no dependencies; only its `deflateSync` and
 * `inflateSync` are bundled, about 8 KiB minified).
 *
 * Why not the platform's `CompressionStream`: it is asynchronous, and each
 * call builds a Blob, a stream pipe and a Response. Measured in headless
 * Chromium 156 on tree leaves of 0.3–17 KiB: ~0.6–1 ms of main-thread time
 * per value to deflate and ~0.5–0.8 ms to inflate, even with a hundred in
 * flight at once; fflate takes ~0.06–0.3 ms to deflate the same values
 * (almost all of it allocating its work tables) and, into a reused buffer,
 * 3–20 µs to inflate one. Reading is what matters most: a reload that reads
 * a whole ledger inflates every leaf of its state tree. Being synchronous,
 * fflate also compresses through the same code path as Node's zlib (a
 * `put`'s event on the caller's path, checkpoints in the background), and
 * its output is the same format (deflate-raw), so stores move freely
 * between Node and browsers.
 *
 * Level 1, as Node's. fflate's cost grows with the bytes, not only with
 * its per-call setup, and level 6 searched longer for little: measured on
 * V8 (Node 20), a 4.6 KiB state leaf 127 → 109 µs, a 2.3 KiB index leaf
 * 70 → 50 µs, a 64 KiB sorted run of an index build 1,980 → 950 µs, each
 * 1–2 % larger. In headless Chromium at 50,000 documents (three runs
 * each, alternating): the first query's index build 1,611 → 1,528 ms
 * (medians), the bulk load ~5 % faster, 6.45 → 6.51 MB stored.
 *
 * @module
 */
import { deflateSync, inflateSync } from "fflate";
import type { Compression } from "./compression.js";

/** Size of the reused inflate buffer: larger than any tree node; larger values (event segments) take the allocating path. */
const SCRATCH_BYTES = 256 * 1024;

let scratch: Uint8Array | undefined;

/** fflate at level 1; see the module docs. */
export const browserCompression: Compression = {
  deflate: (bytes) => deflateSync(bytes, { level: 1 }),
  inflate(bytes, length) {
    // Told nothing of the output size, fflate allocates a 128 KiB+ buffer per
    // call (most of the cost for a 4 KiB node). Given one, it does not grow
    // it: output that fills the buffer may have been cut short, and output
    // past it throws.
    if (length !== undefined) {
      // Sized frames (every value written since they exist): straight into a buffer one byte
      // longer than the frame says, so output that is longer still shows (the caller refuses any
      // length but the frame's), and no copy out of a scratch buffer is needed.
      return inflateSync(bytes, { out: new Uint8Array(length + 1) });
    }
    // Older frames: into a reused buffer, then copied out; output that fills it is inflated again the allocating way.
    const out = (scratch ??= new Uint8Array(SCRATCH_BYTES));
    let inflated: Uint8Array | undefined;
    try {
      inflated = inflateSync(bytes, { out });
    } catch {
      inflated = undefined;
    }
    if (inflated !== undefined && inflated.length < out.length) return inflated.slice();
    return inflateSync(bytes);
  },
};
