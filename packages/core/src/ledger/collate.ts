/**
 * Order-preserving encoding of JSON index keys into strings, so a secondary
 * index can live in the same string-keyed tree as everything else and range
 * queries become string ranges.
 *
 * Collation (CouchDB's, except strings compare by UTF-16 code unit rather than
 * ICU): null < false < true < numbers < strings < arrays < objects < bytes;
 * arrays element-wise, shorter first; objects by their key-sorted entries;
 * bytes (`Uint8Array`, which CouchDB lacks) byte-wise, shorter first. Bytes
 * come last so that adding them changed no earlier key's encoding: indexes
 * built before read on unchanged.
 *
 * Every encoding is self-delimiting (no encoding is a proper prefix of
 * another), so `encodeKey(key) + docId` sorts by key, then by id.
 *
 * @module
 */
import type { JsonValue } from "../doc/normalize.js";
import { toHex } from "../crypto/encoding.js";
import { HearthError } from "../errors.js";

const NULL = "1";
const FALSE = "2";
const TRUE = "3";
const NUMBER = "4";
const STRING = "5";
const ARRAY = "6";
const OBJECT = "7";
const BYTES = "8";
const END = "\u0000";
/** Hex digits of an encoded number (its 8 bytes). */
const NUMBER_CHARS = 16;

/** Encodes `key` so that string order equals collation order. */
export function encodeKey(key: JsonValue): string {
  if (key === null) return NULL;
  switch (typeof key) {
    case "boolean":
      return key ? TRUE : FALSE;
    case "number":
      return NUMBER + encodeNumber(key);
    case "string":
      return STRING + escapeString(key) + END;
  }
  if (Array.isArray(key)) return ARRAY + encodeItems(key) + END;
  // Lowercase hex sorts as the bytes do, and never holds the terminator.
  if (key instanceof Uint8Array) return BYTES + toHex(key) + END;
  const entries = Object.keys(key).sort();
  return OBJECT + entries.map((k) => encodeKey(k) + encodeKey(key[k] as JsonValue)).join("") + END;
}

/**
 * Where the encoded key that starts at `at` in `s` ends (the index just
 * past it): encodings are self-delimiting, so what follows (an index row's
 * document id) is read off without decoding the key.
 * @throws HearthError `INTEGRITY` if no whole encoded key starts there
 */
export function encodedKeyEnd(s: string, at: number): number {
  switch (s[at]) {
    case NULL:
    case FALSE:
    case TRUE:
      return at + 1;
    case NUMBER:
      if (at + NUMBER_CHARS < s.length) return at + 1 + NUMBER_CHARS;
      break;
    case STRING:
    case BYTES: {
      // Strings escape every \0 inside them; hex has none.
      const end = s.indexOf(END, at + 1);
      if (end >= 0) return end + 1;
      break;
    }
    case ARRAY:
    case OBJECT: {
      // Items (an object's are its keys and values, in turn), then the terminator.
      let i = at + 1;
      while (i < s.length && s[i] !== END) i = encodedKeyEnd(s, i);
      if (i < s.length) return i + 1;
      break;
    }
  }
  throw new HearthError("INTEGRITY", `index entry ${JSON.stringify(s)} holds no whole encoded key at ${at}: the stored index is damaged (query under a new index name to build it afresh)`);
}

/**
 * The string every encoding of a key with this prefix starts with:
 * for a string prefix, string keys starting with it; for an array prefix,
 * array keys whose first items equal it.
 */
export function encodePrefix(prefix: string | JsonValue[]): string {
  return typeof prefix === "string" ? STRING + escapeString(prefix) : ARRAY + encodeItems(prefix);
}

function encodeItems(items: JsonValue[]): string {
  let out = "";
  for (const item of items) out += encodeKey(item);
  return out;
}

// Strings end with \0, so \0 and \1 inside them are escaped as \1\1 and \1\2:
// both sort above the terminator, keeping "a" < "a\0" < "ab".
function escapeString(s: string): string {
  return s.replace(/[\u0000\u0001]/g, (c) => (c === "\u0000" ? "\u0001\u0001" : "\u0001\u0002"));
}

const view = new DataView(new ArrayBuffer(8));

// IEEE-754 bits, big-endian; negative numbers have every bit flipped and
// non-negative ones only the sign bit, so unsigned byte order = numeric order.
function encodeNumber(n: number): string {
  view.setFloat64(0, n === 0 ? 0 : n);
  const negative = view.getUint8(0) & 0x80;
  let out = "";
  for (let i = 0; i < 8; i++) {
    let byte = view.getUint8(i);
    byte = negative ? byte ^ 0xff : i === 0 ? byte ^ 0x80 : byte;
    out += byte.toString(16).padStart(2, "0");
  }
  return out;
}
