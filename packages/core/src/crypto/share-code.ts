/**
 * Share codes: the printable form of a one-time secret that hands a sync
 * point's keys to a new device out of band (chat, QR code, read aloud).
 *
 * ```
 * hs1-<32 base32 characters>      e.g. hs1-r45btqwu4w3kpgabcirtirkwn6xfflr7
 *        └─ 16 secret bytes (128 bits) + 4 check bytes, RFC 4648 base32, lowercase
 * ```
 *
 * Why this shape: lowercase letters and digits 2–7 survive copy-paste,
 * chat apps, URLs and dictation (no `+/=`, no `0/O` or `1/l` pairs); the
 * `hs1-` prefix names the format and its version, so a code for a future
 * format is told apart from a typo. The check bytes (SHA-256 of the secret
 * under their own label) catch a mistyped or truncated code before any
 * remote is asked. Parsing ignores case, spaces and dashes in the body.
 *
 * The remote record the code opens is named by an **id** derived from the
 * secret: the first 8 bytes of SHA-256("hearth/share-id" ‖ secret), in hex.
 * A one-way hash of a 128-bit secret, it lets the redeemer find the record
 * without the remote learning anything that helps open it.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { HearthError } from "../errors.js";
import { bytesEqual, concatBytes, toBase32, toHex } from "./encoding.js";

/** Bytes of a share secret (128 bits). */
export const SHARE_SECRET_BYTES = 16;
/** Every share code starts with this. */
export const SHARE_CODE_PREFIX = "hs1-";

const CHECK_BYTES = 4;
const ID_BYTES = 8;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const BODY_CHARS = ((SHARE_SECRET_BYTES + CHECK_BYTES) * 8) / 5; // 32: 160 bits, no padding bits
const ID_LABEL = new TextEncoder().encode("hearth/share-id");
const CHECK_LABEL = new TextEncoder().encode("hearth/share-check");

/** A fresh share secret, its printable code and the id that names its remote record. */
export interface ShareSecret {
  /** What the member hands over out of band. Anyone who has it can obtain the keys while the record exists. */
  readonly code: string;
  /** Names the remote record (16 hex digits); reveals nothing about the secret. */
  readonly id: string;
  /** The 16 secret bytes the keys are wrapped with. */
  readonly secret: Uint8Array;
}

/**
 * Draws a fresh 128-bit secret from the platform CSPRNG.
 *
 * @example
 * ```ts
 * const { code, id, secret } = createShareSecret();
 * await remote.put(`key/s/${id}`, await wrapWithSecret(keyring, fingerprints, secret, `key/s/${id}`));
 * showToUser(code); // "hs1-…"
 * ```
 */
export function createShareSecret(): ShareSecret {
  const secret = globalThis.crypto.getRandomValues(new Uint8Array(SHARE_SECRET_BYTES));
  return { code: formatShareCode(secret), id: shareIdOf(secret), secret };
}

/** The printable code of a share secret (the inverse of {@link parseShareCode}). */
export function formatShareCode(secret: Uint8Array): string {
  if (!(secret instanceof Uint8Array) || secret.length !== SHARE_SECRET_BYTES) throw new TypeError(`a share secret is ${SHARE_SECRET_BYTES} bytes`);
  return SHARE_CODE_PREFIX + toBase32(concatBytes(secret, checkOf(secret)), ALPHABET);
}

/**
 * Reads a share code typed or pasted by a user.
 *
 * @throws HearthError `INVALID_ARGUMENT` with a message saying what is wrong
 *   (no `hs1-` prefix, wrong length, a character codes never use, or a
 *   mistyped character caught by the check bytes); `TypeError` if `code` is
 *   not a string.
 */
export function parseShareCode(code: string): { id: string; secret: Uint8Array } {
  if (typeof code !== "string") throw new TypeError(`a share code must be a string, got ${typeof code}`);
  const text = code.trim().toLowerCase();
  if (!text.startsWith(SHARE_CODE_PREFIX)) {
    const version = /^hs(\d+)-/.exec(text)?.[1];
    throw new HearthError(
      "INVALID_ARGUMENT",
      version !== undefined
        ? `share code format hs${version} is not known to this version of Hearth; upgrade Hearth, or ask for a new code`
        : `${JSON.stringify(shorten(code))} is not a share code: share codes start with "${SHARE_CODE_PREFIX}"; copy the whole code`,
    );
  }
  const body = text.slice(SHARE_CODE_PREFIX.length).replace(/[\s-]+/g, "");
  const bad = [...body].find((c) => !ALPHABET.includes(c));
  if (bad !== undefined) {
    throw new HearthError(
      "INVALID_ARGUMENT",
      `share code contains ${JSON.stringify(bad)}, which share codes never use (only a–z and 2–7: a "0" is the letter "o", a "1" the letter "l" or "i"); check it was copied exactly`,
    );
  }
  if (body.length !== BODY_CHARS) {
    throw new HearthError(
      "INVALID_ARGUMENT",
      `share code has ${body.length} characters after "${SHARE_CODE_PREFIX}", not ${BODY_CHARS}; it was ${body.length < BODY_CHARS ? "cut off" : "joined with something else"} when copied`,
    );
  }
  const bytes = fromBase32(body);
  const secret = bytes.slice(0, SHARE_SECRET_BYTES);
  if (!bytesEqual(bytes.subarray(SHARE_SECRET_BYTES), checkOf(secret))) {
    throw new HearthError("INVALID_ARGUMENT", "share code has a mistyped character (its check digits do not match); copy it again exactly");
  }
  return { id: shareIdOf(secret), secret };
}

/** The id naming the remote record of `secret`. */
export function shareIdOf(secret: Uint8Array): string {
  return toHex(sha256(concatBytes(ID_LABEL, secret)).subarray(0, ID_BYTES));
}

function checkOf(secret: Uint8Array): Uint8Array {
  return sha256(concatBytes(CHECK_LABEL, secret)).subarray(0, CHECK_BYTES);
}


function fromBase32(text: string): Uint8Array {
  const out = new Uint8Array((text.length * 5) >> 3);
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (const c of text) {
    buffer = (buffer << 5) | ALPHABET.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 255;
      buffer &= (1 << bits) - 1;
    }
  }
  return out;
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
