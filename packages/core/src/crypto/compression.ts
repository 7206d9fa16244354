/**
 * Optional compression of values before they are sealed. Encrypted bytes
 * do not compress, so this is the only place it can happen; tree nodes
 * (dozens of similar documents) shrink 2–3×.
 *
 * Every sealed plaintext starts with one flag byte: 0 = stored as is,
 * 1 = deflate-raw, 2 = deflate-raw preceded by the inflated length (an
 * unsigned LEB128 varint). Every platform reads all three; values are
 * written as 0 or 2. Why the length: told the size, Node's zlib inflates
 * into one buffer of exactly that size instead of 16 KiB chunks that are
 * then joined and copied down to size, which was a tenth of a cache miss
 * on a large ledger and most of the garbage it left (reading a million-
 * document ledger at random made ~35 KiB of short-lived buffers per node). Platforms pass a fast
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
const DEFLATE_RAW_SIZED = 2;
/** A varint of this many bytes holds any length up to 2^35: more than any value. */
const MAX_LENGTH_BYTES = 5;

/** A deflate-raw implementation. */
export interface Compression {
  /** deflate-raw of `bytes`. */
  deflate(bytes: Uint8Array): Uint8Array;
  /**
   * The inverse of {@link deflate}. `length`, when given, is what the
   * output's length must be (implementations may use it to size their
   * output buffer; the caller checks it).
   */
  inflate(bytes: Uint8Array, length?: number): Uint8Array | Promise<Uint8Array>;
}

/**
 * Frames `value` for sealing, compressed when `compression` is given, the
 * value is at least `minBytes` long and compressing helps.
 */
export function frameValue(value: Uint8Array, compression: Compression | undefined, minBytes = COMPRESS_MIN_BYTES): Uint8Array {
  if (compression && value.length >= minBytes) {
    const deflated = compression.deflate(value);
    if (deflated.length + 16 < value.length) return sizedFrame(value.length, deflated);
  }
  const out = new Uint8Array(value.length + 1);
  out[0] = RAW;
  out.set(value, 1);
  return out;
}

function sizedFrame(length: number, deflated: Uint8Array): Uint8Array {
  const head = [DEFLATE_RAW_SIZED];
  for (let rest = length; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) {
      head.push(rest);
      break;
    }
    head.push((rest % 128) | 0x80);
  }
  const out = new Uint8Array(head.length + deflated.length);
  out.set(head);
  out.set(deflated, head.length);
  return out;
}

/** The value inside a frame made by {@link frameValue}. */
export async function unframeValue(frame: Uint8Array, compression: Compression | undefined, where: string): Promise<Uint8Array> {
  const flag = frame[0];
  if (flag === RAW) return frame.subarray(1);
  let body = frame.subarray(1);
  let length: number | undefined;
  if (flag === DEFLATE_RAW_SIZED) {
    length = 0;
    let at = 1;
    for (let scale = 1; ; scale *= 128, at++) {
      const byte = frame[at];
      if (byte === undefined || at > MAX_LENGTH_BYTES) throw new HearthError("INTEGRITY", `${where}: compressed value's length is cut short or too long`);
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
    }
    body = frame.subarray(at + 1);
  } else if (flag !== DEFLATE_RAW) {
    throw new HearthError("INTEGRITY", `${where}: unknown value framing ${flag}; it was written by a newer Hearth or is damaged`);
  }
  let inflated: Uint8Array;
  try {
    inflated = await (compression ?? streamCompression).inflate(body, length);
  } catch (cause) {
    throw new HearthError("INTEGRITY", `${where}: compressed value does not inflate`, { cause });
  }
  if (length !== undefined && inflated.length !== length) {
    throw new HearthError("INTEGRITY", `${where}: compressed value inflates to ${inflated.length} bytes, its frame says ${length}`);
  }
  return inflated;
}

/** Inflate through the Compression Streams API (browsers, and any runtime without zlib). */
export const streamCompression: Pick<Compression, "inflate"> = {
  async inflate(bytes) {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  },
};
