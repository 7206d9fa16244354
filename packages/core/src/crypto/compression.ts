/**
 * Optional compression of values before they are sealed. Encrypted bytes
 * do not compress, so this is the only place it can happen; tree nodes
 * (dozens of similar documents) shrink 2–3×.
 *
 * Every sealed plaintext starts with one flag byte: 0 = stored as is,
 * 1 = deflate-raw. Every platform can read both. Platforms pass a fast
 * synchronous deflate (Node: zlib, `compression-node.ts`; browsers: fflate,
 * `compression-browser.ts`), which writes compressed values only when it
 * saves space; without one nothing is compressed, and compressed values
 * are inflated through `DecompressionStream`.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/**
 * Values shorter than this are stored as is: on a caller's path (a commit's
 * event) the savings do not pay for the work, a zlib call costing several
 * microseconds whatever the size.
 */
export const COMPRESS_MIN_BYTES = 1024;

/**
 * The threshold for background writes (checkpoints): there, time matters
 * less than bytes. Tree nodes are often a few hundred bytes (the boundary
 * rule makes their sizes geometric), and compressing those too saved a
 * seventh of a 10,000-document ledger.
 */
export const COMPRESS_MIN_BYTES_BACKGROUND = 256;

const RAW = 0;
const DEFLATE_RAW = 1;

/** A deflate-raw implementation. */
export interface Compression {
  /** deflate-raw of `bytes`. */
  deflate(bytes: Uint8Array): Uint8Array;
  /** The inverse of {@link deflate}. */
  inflate(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * Frames `value` for sealing, compressed when `compression` is given, the
 * value is at least `minBytes` long and compressing helps.
 */
export function frameValue(value: Uint8Array, compression: Compression | undefined, minBytes = COMPRESS_MIN_BYTES): Uint8Array {
  if (compression && value.length >= minBytes) {
    const deflated = compression.deflate(value);
    if (deflated.length + 16 < value.length) return withFlag(DEFLATE_RAW, deflated);
  }
  return withFlag(RAW, value);
}

/** The value inside a frame made by {@link frameValue}. */
export async function unframeValue(frame: Uint8Array, compression: Compression | undefined, where: string): Promise<Uint8Array> {
  const body = frame.subarray(1);
  if (frame[0] === RAW) return body;
  if (frame[0] !== DEFLATE_RAW) throw new HearthError("INTEGRITY", `${where}: unknown value framing ${frame[0]}; it was written by a newer Hearth or is damaged`);
  try {
    return await (compression ?? streamCompression).inflate(body);
  } catch (cause) {
    throw new HearthError("INTEGRITY", `${where}: compressed value does not inflate`, { cause });
  }
}

function withFlag(flag: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = flag;
  out.set(bytes, 1);
  return out;
}

/** Inflate through the Compression Streams API (browsers, and any runtime without zlib). */
export const streamCompression: Pick<Compression, "inflate"> = {
  async inflate(bytes) {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  },
};
