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

const ALPHABET = Uint8Array.from("abcdefghijklmnopqrstuvwxyz234567", (c) => c.charCodeAt(0));
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

/**
 * Records `text` as `cid`'s text, for a CID made anew from bytes whose
 * text is already known (an internal node keeps its children's texts, not
 * their CIDs). `text` must be what {@link cidText} would give.
 */
export function knownCidText(cid: CID, text: string): CID {
  texts.set(cid, text);
  return cid;
}

/** Multibase base32 (prefix `b`, RFC 4648 lowercase, no padding): CIDv1's default text. */
function base32Multibase(bytes: Uint8Array): string {
  const length = 1 + Math.ceil((bytes.length * 8) / 5);
  const out = length <= codes.length ? codes : new Uint8Array(length);
  out[0] = 0x62; // "b"
  let n = 1;
  let i = 0;
  // Five bytes make eight characters.
  for (; i + 5 <= bytes.length; i += 5) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    const b2 = bytes[i + 2]!;
    const b3 = bytes[i + 3]!;
    const b4 = bytes[i + 4]!;
    out[n] = ALPHABET[b0 >> 3]!;
    out[n + 1] = ALPHABET[((b0 & 7) << 2) | (b1 >> 6)]!;
    out[n + 2] = ALPHABET[(b1 >> 1) & 31]!;
    out[n + 3] = ALPHABET[((b1 & 1) << 4) | (b2 >> 4)]!;
    out[n + 4] = ALPHABET[((b2 & 15) << 1) | (b3 >> 7)]!;
    out[n + 5] = ALPHABET[(b3 >> 2) & 31]!;
    out[n + 6] = ALPHABET[((b3 & 3) << 3) | (b4 >> 5)]!;
    out[n + 7] = ALPHABET[b4 & 31]!;
    n += 8;
  }
  let bits = 0;
  let buffer = 0;
  for (; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[n++] = ALPHABET[(buffer >>> bits) & 31]!;
    }
  }
  if (bits > 0) out[n++] = ALPHABET[(buffer << (5 - bits)) & 31]!;
  return ascii.decode(out.subarray(0, n));
}
