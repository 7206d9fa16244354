/**
 * The text form of a CID (what `cid.toString()` gives), computed once per
 * CID and without the generic multibase encoder.
 *
 * Why: the ledger names every event by its CID text (heads, the local event
 * index, clocks), one fresh CID per commit. multiformats' base32 encoder
 * builds the string a character at a time, ~2 KB of garbage per CID, which
 * showed up as a measurable share of a small `put`.
 *
 * @module
 */
import type { CID } from "multiformats/cid";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const texts = new WeakMap<CID, string>();
const codes = new Uint8Array(128);
// The output is ASCII, so decoding it as UTF-8 is exact, and the fastest way to a string.
const ascii = new TextDecoder();

/** `cid.toString()`, memoized. */
export function cidText(cid: CID): string {
  let text = texts.get(cid);
  if (text === undefined) {
    text = cid.version === 1 ? base32Multibase(cid.bytes) : cid.toString();
    texts.set(cid, text);
  }
  return text;
}

/** Multibase base32 (prefix `b`, RFC 4648 lowercase, no padding): CIDv1's default text. */
function base32Multibase(bytes: Uint8Array): string {
  const length = 1 + Math.ceil((bytes.length * 8) / 5);
  const out = length <= codes.length ? codes : new Uint8Array(length);
  out[0] = 0x62; // "b"
  let n = 1;
  let bits = 0;
  let buffer = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[n++] = ALPHABET.charCodeAt((buffer >>> bits) & 31);
    }
  }
  if (bits > 0) out[n++] = ALPHABET.charCodeAt((buffer << (5 - bits)) & 31);
  return ascii.decode(out.subarray(0, n));
}
