/**
 * A device's public identity, as other devices and the membership log know
 * it: its ECDH P-256 key (others wrap data keys for it) and its ECDSA P-256
 * key (it signs what the device adds to a sync point), together.
 *
 * ```
 * printable: base64url(agreement key ‖ verify key)   174 characters
 *            both raw uncompressed P-256 points (65 bytes each)
 * fingerprint: hex of SHA-256(agreement ‖ verify), first 16 bytes
 * ```
 *
 * Both keys travel together so that a device named in the log by its
 * fingerprint cannot be given someone else's signing key, or the reverse:
 * the fingerprint commits to both.
 *
 * Portable.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { HearthError } from "../errors.js";
import type { DeviceIdentity } from "../keyring/types.js";
import { bytesEqual, concatBytes, fromBase64Url, toBase64Url, toHex } from "../crypto/encoding.js";

/** Bytes of each raw public key. */
const POINT_BYTES = 65;

/** A device fingerprint: 32 lowercase hex digits naming a device's two public keys. */
export type DeviceFingerprint = string & { readonly __brand: "DeviceFingerprint" };

/** A device's public keys, decoded. */
export interface DevicePublic {
  /** ECDH P-256, raw uncompressed point: data keys are wrapped for it. */
  readonly agreementKey: Uint8Array;
  /** ECDSA P-256, raw uncompressed point: verifies the device's signatures. */
  readonly verifyKey: Uint8Array;
  readonly fingerprint: DeviceFingerprint;
  /** The printable form (see the module docs). */
  readonly text: string;
}

/** The device behind raw `agreementKey ‖ verifyKey` (130 bytes); `INTEGRITY` if they are not two P-256 points. */
export function deviceFromBytes(bytes: Uint8Array): DevicePublic {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 2 * POINT_BYTES || bytes[0] !== 4 || bytes[POINT_BYTES] !== 4) {
    throw new HearthError("INTEGRITY", "a device identity is not two uncompressed P-256 points");
  }
  const fingerprint = toHex(sha256(bytes).subarray(0, 16)) as DeviceFingerprint;
  // Every statement names its author: decode each device once (its printable form costs more than the rest).
  const known = decoded.get(fingerprint);
  if (known && bytesEqual(known.agreementKey, bytes.subarray(0, POINT_BYTES)) && bytesEqual(known.verifyKey, bytes.subarray(POINT_BYTES))) return known;
  const device: DevicePublic = Object.freeze({
    agreementKey: bytes.slice(0, POINT_BYTES),
    verifyKey: bytes.slice(POINT_BYTES),
    fingerprint,
    text: toBase64Url(bytes),
  });
  if (decoded.size >= DECODED_CACHE) decoded.delete(decoded.keys().next().value as DeviceFingerprint);
  decoded.set(fingerprint, device);
  return device;
}

/** Devices decoded lately, by fingerprint (a sync point has few members). */
const decoded = new Map<DeviceFingerprint, DevicePublic>();
const DECODED_CACHE = 256;

/** The raw bytes of `device` (`agreementKey ‖ verifyKey`). */
export function deviceBytes(device: DevicePublic): Uint8Array {
  return concatBytes(device.agreementKey, device.verifyKey);
}

/**
 * Parses a printable device identity (what `db.device()` shows).
 * @throws HearthError `INVALID_ARGUMENT` for anything else, saying where to get one.
 */
export function parseDevice(text: string): DevicePublic {
  if (typeof text !== "string") throw new TypeError(`a device identity is a string (the other device's db.device().publicKey), got ${typeof text}`);
  try {
    return deviceFromBytes(fromBase64Url(text.trim()));
  } catch (cause) {
    throw new HearthError(
      "INVALID_ARGUMENT",
      `${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)} is not a device identity; copy it whole from the other device's db.device()`,
      { cause },
    );
  }
}

/** This device's public identity, from its keyring identity. */
export function deviceOf(identity: DeviceIdentity): DevicePublic {
  return deviceFromBytes(concatBytes(identity.agreementPublicKey, identity.signingPublicKey));
}

/** True when `value` looks like a device fingerprint. */
export function isDeviceFingerprint(value: unknown): value is DeviceFingerprint {
  return typeof value === "string" && /^[0-9a-f]{32}$/.test(value);
}
