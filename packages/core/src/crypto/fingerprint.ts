/**
 * Fingerprints name keys without revealing them: lowercase hex of the first
 * 16 bytes of SHA-256 over the raw key bytes. Data keys and device
 * identities use the same rule, so one helper serves both.
 *
 * @module
 */
import type { Fingerprint } from "../keyring/types.js";
import { bufferSource, toHex } from "./encoding.js";

/** Bytes of a fingerprint in binary form (as it sits in an envelope header). */
export const FINGERPRINT_BYTES = 16;

const FINGERPRINT_PATTERN = /^[0-9a-f]{32}$/;

/** The fingerprint of raw key bytes (a 32-byte data key, or a raw public key point). */
export async function fingerprintOf(raw: Uint8Array): Promise<Fingerprint> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bufferSource(raw)));
  return toHex(digest.subarray(0, FINGERPRINT_BYTES)) as Fingerprint;
}

/** True when `value` has the shape of a fingerprint (32 lowercase hex digits). */
export function isFingerprint(value: unknown): value is Fingerprint {
  return typeof value === "string" && FINGERPRINT_PATTERN.test(value);
}

/**
 * Throws `TypeError` unless `value` is a well-formed fingerprint. Keyrings
 * call it before using a fingerprint as a file or record name, so a
 * malformed one can never escape its directory.
 */
export function assertFingerprint(value: unknown): asserts value is Fingerprint {
  if (!isFingerprint(value)) {
    throw new TypeError(`a key fingerprint is 32 lowercase hex digits, got ${JSON.stringify(value)}`);
  }
}
