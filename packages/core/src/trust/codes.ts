/**
 * The printable things a member hands to another device out of band: share
 * codes and invitations. Both carry the sync point's id (a 16-byte prefix of
 * its founding entry's hash), which the receiving device pins: from then on
 * it accepts only a membership log that chains to that founding entry,
 * whatever the sync point serves.
 *
 * ```
 * share code:  hs2-<56 base32 characters>   point(16) ‖ secret(16) ‖ check(3)
 * invitation:  hi1-<32 base32 characters>   point(16) ‖ check(4)
 * ```
 *
 * Lowercase letters and digits 2–7 survive copy-paste, chat apps, URLs and
 * dictation; the prefix names the format and its version; the check bytes
 * (SHA-256 under their own label) catch a mistyped or truncated code before
 * any remote is asked. Parsing ignores case, spaces and dashes in the body.
 *
 * A share code's secret is 128 random bits: it unwraps the keys its grant
 * carries and derives the key that signs the redeem (./access.ts), so the
 * sync point, which sees the grant, can neither open nor redeem it.
 *
 * Portable.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import type { CID } from "multiformats/cid";
import { HearthError } from "../errors.js";
import { bytesEqual, concatBytes, toBase32 } from "../crypto/encoding.js";
import { SECRET_BYTES } from "../crypto/wrap-record.js";

/** Bytes of a share secret (128 bits): a key record's wrapping secret. */
export { SECRET_BYTES };
/** Bytes of the point id prefix codes carry. */
export const POINT_PREFIX_BYTES = 16;
/** Every share code starts with this. */
export const SHARE_CODE_PREFIX = "hs2-";
/** Every invitation starts with this. */
export const INVITATION_PREFIX = "hi1-";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const CODE_CHECK = new TextEncoder().encode("hearth/share-check/v2");
const INVITATION_CHECK = new TextEncoder().encode("hearth/invitation-check/v1");

/** A share code, read. */
export interface ShareCode {
  /** The first bytes of the point id's digest: the pin. */
  readonly point: Uint8Array;
  readonly secret: Uint8Array;
}

/** The pin a code carries for `point` (the first bytes of its digest). */
export function pointPrefix(point: CID): Uint8Array {
  return point.multihash.digest.slice(0, POINT_PREFIX_BYTES);
}

/** True when `point` is the sync point a code's pin names. */
export function pointMatches(point: CID, prefix: Uint8Array): boolean {
  return bytesEqual(pointPrefix(point), prefix);
}

/** A fresh share code for `point`, and its secret. */
export function createShareCode(point: CID): { code: string; secret: Uint8Array } {
  const secret = globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
  const body = concatBytes(pointPrefix(point), secret);
  return { code: SHARE_CODE_PREFIX + toBase32(concatBytes(body, check(CODE_CHECK, body, 3)), ALPHABET), secret };
}

/**
 * Reads a share code typed or pasted by a user.
 * @throws HearthError `INVALID_ARGUMENT` saying what is wrong; `TypeError` for a non-string.
 */
export function parseShareCode(code: string): ShareCode {
  const bytes = parsePrintable(code, SHARE_CODE_PREFIX, "share code", POINT_PREFIX_BYTES + SECRET_BYTES + 3);
  const body = bytes.subarray(0, POINT_PREFIX_BYTES + SECRET_BYTES);
  if (!bytesEqual(bytes.subarray(body.length), check(CODE_CHECK, body, 3))) {
    throw new HearthError("INVALID_ARGUMENT", "share code has a mistyped character (its check digits do not match); copy it again exactly");
  }
  return { point: body.slice(0, POINT_PREFIX_BYTES), secret: body.slice(POINT_PREFIX_BYTES) };
}

/** The invitation for `point`: what an invited device attaches with. */
export function formatInvitation(point: CID): string {
  const body = pointPrefix(point);
  return INVITATION_PREFIX + toBase32(concatBytes(body, check(INVITATION_CHECK, body, 4)), ALPHABET);
}

/**
 * Reads an invitation; returns the point pin it carries.
 * @throws HearthError `INVALID_ARGUMENT` saying what is wrong; `TypeError` for a non-string.
 */
export function parseInvitation(invitation: string): Uint8Array {
  const bytes = parsePrintable(invitation, INVITATION_PREFIX, "invitation", POINT_PREFIX_BYTES + 4);
  const body = bytes.subarray(0, POINT_PREFIX_BYTES);
  if (!bytesEqual(bytes.subarray(POINT_PREFIX_BYTES), check(INVITATION_CHECK, body, 4))) {
    throw new HearthError("INVALID_ARGUMENT", "invitation has a mistyped character (its check digits do not match); copy it again exactly");
  }
  return body.slice();
}

function check(label: Uint8Array, body: Uint8Array, length: number): Uint8Array {
  return sha256(concatBytes(label, body)).subarray(0, length);
}

function parsePrintable(text: string, prefix: string, what: string, bytes: number): Uint8Array {
  if (typeof text !== "string") throw new TypeError(`a ${what} must be a string, got ${typeof text}`);
  const clean = text.trim().toLowerCase();
  if (!clean.startsWith(prefix)) {
    const other = /^(h[a-z])(\d+)-/.exec(clean);
    throw new HearthError(
      "INVALID_ARGUMENT",
      other && other[1] === prefix.slice(0, 2)
        ? `${what} format ${other[1]}${other[2]} is not known to this version of Hearth; upgrade Hearth, or ask for a new ${what}`
        : `${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)} is not a ${what}: ${what}s start with "${prefix}"; copy the whole ${what}`,
    );
  }
  const body = clean.slice(prefix.length).replace(/[\s-]+/g, "");
  const bad = [...body].find((c) => !ALPHABET.includes(c));
  if (bad !== undefined) {
    throw new HearthError(
      "INVALID_ARGUMENT",
      `${what} contains ${JSON.stringify(bad)}, which it never uses (only a–z and 2–7: a "0" is the letter "o", a "1" the letter "l" or "i"); check it was copied exactly`,
    );
  }
  const chars = Math.ceil((bytes * 8) / 5);
  if (body.length !== chars) {
    throw new HearthError(
      "INVALID_ARGUMENT",
      `${what} has ${body.length} characters after "${prefix}", not ${chars}; it was ${body.length < chars ? "cut off" : "joined with something else"} when copied`,
    );
  }
  return fromBase32(body).subarray(0, bytes);
}

function fromBase32(text: string): Uint8Array {
  const out = new Uint8Array(Math.ceil((text.length * 5) / 8));
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
