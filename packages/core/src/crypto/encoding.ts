/**
 * Byte helpers the crypto layer needs in every runtime: hex (fingerprints),
 * base64url (keys in JSON files and printable public keys) and a view that
 * WebCrypto's `BufferSource` typing accepts. Hand-written rather than
 * `Buffer`-based because core also runs in browsers.
 *
 * @module
 */

const HEX_DIGITS = "0123456789abcdef";

/** Lowercase hex of `bytes`; the printable form of fingerprints. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
  return out;
}

/** Parses lowercase or uppercase hex; `TypeError` on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`expected hex digits, got ${JSON.stringify(hex.slice(0, 80))}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** base64url without padding (RFC 4648 §5), the alphabet JWK already uses. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Parses base64url (padding optional); `TypeError` on characters outside the alphabet. */
export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) {
    throw new TypeError(`expected base64url, got ${JSON.stringify(text.slice(0, 80))}`);
  }
  const base64 = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  let binary: string;
  try {
    binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  } catch (cause) {
    throw new TypeError(`malformed base64url of length ${text.length}`, { cause });
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Base32 of `bytes`, most significant bits first, in the given 32-letter
 * `alphabet` (RFC 4648 lower case for share codes, Crockford for document
 * ids), without padding; leftover bits are zero-filled into a last letter.
 */
export function toBase32(bytes: Uint8Array, alphabet: string): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(buffer >> bits) & 31]!;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31]!;
  return out;
}

/** Joins byte arrays into one fresh array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Constant-length comparison of two byte arrays (no early exit on the first difference). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * `bytes` typed as WebCrypto's `BufferSource`. TypeScript's DOM typings
 * refuse views that might sit on a `SharedArrayBuffer`; a view on a plain
 * `ArrayBuffer` is passed through without copying, anything else is copied.
 */
export function bufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
