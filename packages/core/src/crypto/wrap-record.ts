/**
 * The wire form of key records (see `wrap.ts` for what they are for): two
 * kinds of dag-cbor map, version 1, each checked field by field when read.
 *
 * ```
 * device      { v: 1, kind: "device", fp, from, to, toKey, salt, iv, ct }
 * secret      { v: 1, kind: "secret", salt, keys: [{ fp, iv, ct }, …] }
 *
 * fp, to       fingerprints (32 lowercase hex digits): the wrapped key, the recipient device
 * from, toKey  raw uncompressed P-256 points (65 bytes): wrapping and receiving device
 * salt         16 random bytes, the KDF salt
 * iv, ct       12-byte GCM IV; the 32-byte key encrypted, with its 16-byte tag
 * ```
 *
 * Decoding is strict because the remote is not trusted: a record is refused
 * (`INTEGRITY`) unless it is canonical dag-cbor (re-encoding gives the same
 * bytes), has exactly these fields with exactly these types and lengths,
 * and its `to` is the fingerprint of its `toKey`. Every field that is not
 * the ciphertext is authenticated as GCM additional data
 * ({@link associatedData}), so none can be changed or swapped between
 * records without the unwrap failing.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Fingerprint } from "../keyring/types.js";
import { bytesEqual, toHex } from "./encoding.js";
import { DATA_KEY_BYTES } from "./data-key.js";
import { FINGERPRINT_BYTES, isFingerprint } from "./fingerprint.js";
import { strictDecoder } from "../codec/strict.js";

const { malformed, asMap, exactFields, bytesField } = strictDecoder("key record");

/** The record version this code writes and reads. */
export const KEY_RECORD_VERSION = 1;
/** Bytes of every KDF salt. */
export const SALT_BYTES = 16;
/** Bytes of a raw uncompressed P-256 public key. */
export const PUBLIC_KEY_BYTES = 65;
/** Bytes of the secret a secret record is wrapped under (128 bits). */
export const SECRET_BYTES = 16;
/** Bytes of the IV a wrap takes (96 bits, as for every GCM use in Hearth). */
export const WRAP_IV_BYTES = 12;
/** Bytes of a wrapped key: 32 bytes of ciphertext and the 16-byte tag. */
export const WRAPPED_KEY_BYTES = DATA_KEY_BYTES + 16;
/** Most keys one secret record may carry (epochs of one sync point). */
export const MAX_KEYS_PER_RECORD = 1024;
/** Records larger than this are refused before decoding. */
const MAX_RECORD_BYTES = 128 * 1024;

/** One key in a secret record. */
export interface WrappedEntry {
  readonly fp: Fingerprint;
  readonly iv: Uint8Array;
  readonly ct: Uint8Array;
}

/** A key wrapped for one device. */
export interface DeviceRecord {
  readonly v: 1;
  readonly kind: "device";
  readonly fp: Fingerprint;
  readonly from: Uint8Array;
  readonly to: string;
  readonly toKey: Uint8Array;
  readonly salt: Uint8Array;
  readonly iv: Uint8Array;
  readonly ct: Uint8Array;
}

/** Keys wrapped with a share code's secret. */
export interface SecretRecord {
  readonly v: 1;
  readonly kind: "secret";
  readonly salt: Uint8Array;
  readonly keys: readonly WrappedEntry[];
}

/** Any key record. */
export type KeyRecord = DeviceRecord | SecretRecord;

/** Encodes a record (canonical dag-cbor). */
export function encodeKeyRecord(record: KeyRecord): Uint8Array {
  return dagCbor.encode(record);
}

/**
 * The GCM additional data for one wrapped key: the caller's context (the
 * record's name at the remote, which binds it to its sync point and
 * purpose) and every field of the record except the ciphertexts and IVs
 * (GCM authenticates its IV itself). For secret records the
 * list of all fingerprints is included, so keys cannot be dropped,
 * reordered or moved between records. Encoded as dag-cbor, so no two
 * different inputs give the same bytes.
 */
export function associatedData(record: KeyRecord, context: string, fp: Fingerprint): Uint8Array {
  switch (record.kind) {
    case "device": {
      const { ct: _ct, iv: _iv, ...header } = record;
      return dagCbor.encode({ ctx: context, header });
    }
    case "secret": {
      const { keys, ...header } = record;
      return dagCbor.encode({ ctx: context, header: { ...header, fps: keys.map((k) => k.fp) }, fp });
    }
  }
}

/**
 * Decodes and checks a record.
 * @throws HearthError `INTEGRITY` for anything but a well-formed version-1 record.
 */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`a key record must be a Uint8Array, got ${typeof bytes}`);
  if (bytes.length > MAX_RECORD_BYTES) throw malformed(`it is ${bytes.length} bytes, more than any key record`);
  let value: unknown;
  try {
    value = dagCbor.decode(bytes);
  } catch (cause) {
    throw malformed("it is not dag-cbor", cause);
  }
  const map = asMap(value, "record");
  if (map.v !== KEY_RECORD_VERSION) {
    throw malformed(typeof map.v === "number" ? `version ${map.v} is unknown (a newer Hearth may have written it; upgrade)` : "it has no version");
  }
  let record: KeyRecord;
  switch (map.kind) {
    case "device":
      record = decodeDevice(map);
      break;
    case "secret":
      record = decodeSecret(map);
      break;
    default:
      throw malformed(`its kind ${JSON.stringify(map.kind)} is unknown`);
  }
  // Canonical form only: one record has one encoding, so nothing can ride in
  // the slack of a non-canonical one.
  if (!bytesEqual(dagCbor.encode(record), bytes)) throw malformed("it is not canonical dag-cbor");
  return record;
}

/** Hex fingerprint of a raw public key, synchronously (same rule as `fingerprintOf`). */
export function publicKeyFingerprint(raw: Uint8Array): string {
  return toHex(sha256(raw).subarray(0, FINGERPRINT_BYTES));
}

function decodeDevice(map: Record<string, unknown>): DeviceRecord {
  exactFields(map, ["v", "kind", "fp", "from", "to", "toKey", "salt", "iv", "ct"]);
  const record: DeviceRecord = {
    v: KEY_RECORD_VERSION,
    kind: "device",
    fp: fingerprintField(map.fp, "fp"),
    from: publicKeyField(map.from, "from"),
    to: fingerprintField(map.to, "to"),
    toKey: publicKeyField(map.toKey, "toKey"),
    salt: bytesField(map.salt, "salt", SALT_BYTES),
    iv: bytesField(map.iv, "iv", WRAP_IV_BYTES),
    ct: bytesField(map.ct, "ct", WRAPPED_KEY_BYTES),
  };
  if (publicKeyFingerprint(record.toKey) !== record.to) throw malformed("its to is not the fingerprint of its toKey");
  return record;
}

function decodeSecret(map: Record<string, unknown>): SecretRecord {
  exactFields(map, ["v", "kind", "salt", "keys"]);
  const salt = bytesField(map.salt, "salt", SALT_BYTES);
  if (!Array.isArray(map.keys) || map.keys.length === 0 || map.keys.length > MAX_KEYS_PER_RECORD) {
    throw malformed(`its keys are not a list of 1 to ${MAX_KEYS_PER_RECORD} entries`);
  }
  const seen = new Set<string>();
  const keys = map.keys.map((entry: unknown, i): WrappedEntry => {
    const e = asMap(entry, `keys[${i}]`);
    exactFields(e, ["fp", "iv", "ct"]);
    const fp = fingerprintField(e.fp, `keys[${i}].fp`);
    if (seen.has(fp)) throw malformed(`key ${fp} appears twice`);
    seen.add(fp);
    return { fp, iv: bytesField(e.iv, `keys[${i}].iv`, WRAP_IV_BYTES), ct: bytesField(e.ct, `keys[${i}].ct`, WRAPPED_KEY_BYTES) };
  });
  return { v: KEY_RECORD_VERSION, kind: "secret", salt, keys };
}

function fingerprintField(value: unknown, name: string): Fingerprint {
  if (!isFingerprint(value)) throw malformed(`its ${name} is not a fingerprint`);
  return value;
}

function publicKeyField(value: unknown, name: string): Uint8Array {
  const bytes = bytesField(value, name, PUBLIC_KEY_BYTES);
  if (bytes[0] !== 4) throw malformed(`its ${name} is not an uncompressed P-256 point`);
  return bytes;
}
