/**
 * Key wrapping: how a sync point's data keys reach other devices without
 * ever crossing the remote in the clear. Two ways, one record kind each
 * (wire format in `wrap-record.ts`, derivations in `wrap-kdf.ts`):
 *
 * - **Device** ({@link wrapForDevice}): a member wraps a key for another
 *   device's public key. KEK = HKDF-SHA-256(ECDH(wrapper's identity
 *   private key, recipient public key), 16 random salt bytes,
 *   "hearth/wrap/device/v1"). Static-static ECDH, so the recipient learns
 *   which device wrapped the key, authenticated.
 * - **Secret** ({@link wrapWithSecret}): several keys wrapped under a
 *   128-bit secret (a share code's, or one stretched from a passphrase by
 *   `trust/access.ts`). KEK = HKDF-SHA-256(secret, salt,
 *   "hearth/wrap/secret/v1").
 *
 * Every wrapped key is AES-256-GCM over its 32 raw bytes, done inside the
 * keyring (`Keyring.wrapKey`/`unwrapKey`), so raw key bytes never reach
 * this module. The caller's `context` (the record's name at the remote) and
 * every public field of the record are GCM additional data: a record moved
 * to another name or sync point, or with any field changed, fails to unwrap.
 *
 * ## What this layer does and does not decide
 *
 * It keeps keys secret from whoever stores the records, and authenticates
 * who wrapped a device record ({@link unwrapFromDevice} returns `from`). It
 * does **not** decide whether a key should be used: anyone who has seen a
 * device's public key can wrap a key of its own choosing for it. That is
 * the membership log's job (`trust/grants.ts` accepts a key only when an
 * admin of the signed log granted it; `docs/security.md`). A record moved,
 * altered or made for another device fails here (`INTEGRITY`,
 * `KEY_REQUIRED`); deleting or replaying records is handled above.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { DataKey, Fingerprint, Keyring } from "../keyring/types.js";
import { bytesEqual, fromBase64Url, toBase64Url } from "./encoding.js";
import { assertFingerprint } from "./fingerprint.js";
import { deviceKek, importPublicKey, secretKek } from "./wrap-kdf.js";
import {
  associatedData, decodeKeyRecord, encodeKeyRecord, MAX_KEYS_PER_RECORD, PUBLIC_KEY_BYTES, publicKeyFingerprint,
  SALT_BYTES, SECRET_BYTES, WRAP_IV_BYTES, type SecretRecord, type WrappedEntry,
} from "./wrap-record.js";

export { KEY_RECORD_VERSION, MAX_KEYS_PER_RECORD, SECRET_BYTES, WRAP_IV_BYTES, WRAPPED_KEY_BYTES } from "./wrap-record.js";

/** The device that wrapped a key, as {@link unwrapFromDevice} reports it. */
export interface WrappingDevice {
  /** Printable public key (as `DeviceIdentity.publicKey`). */
  readonly publicKey: string;
  /** Its fingerprint (as `DeviceIdentity.fingerprint`). */
  readonly fingerprint: string;
}

/**
 * What anyone can read from a record without a key ({@link describeKeyRecord}).
 * Every variant has every field name, so `header.toKey` type-checks on any.
 */
export type KeyRecordHeader =
  | {
      readonly kind: "device";
      /** The wrapped key. */
      readonly fp: Fingerprint;
      /** `[fp]`, so every kind lists its keys the same way. */
      readonly fps: readonly Fingerprint[];
      /** Fingerprint of the device the key is for. */
      readonly to: string;
      /** Printable public key of the device the key is for (a member, when rotating). */
      readonly toKey: string;
      /** The wrapping device as the record *claims*; only {@link unwrapFromDevice} authenticates it. */
      readonly from: WrappingDevice;
    }
  | {
      readonly kind: "secret";
      readonly fp?: undefined;
      /** The wrapped keys, in record order. */
      readonly fps: readonly Fingerprint[];
      readonly to?: undefined;
      readonly toKey?: undefined;
      readonly from?: undefined;
    };

/**
 * Wraps the key `fingerprint` for the device whose public key is
 * `recipientPublicKey` (an invite; may be this device's own key).
 *
 * @param context - binds the record to where it is stored (its name at the
 *   remote); the same string must be given to {@link unwrapFromDevice}.
 * @returns the record's bytes, to store at the remote.
 * @throws HearthError `KEY_REQUIRED` if the keyring lacks the key,
 *   `INVALID_ARGUMENT` if the key is not shareable, the public key is not a
 *   P-256 point, or `context` is empty; `TypeError` for wrong argument types.
 * @example
 * ```ts
 * const name = `key/d/${key.fingerprint}/${theirFingerprint}`;
 * await remote.put(name, await wrapForDevice(keyring, key.fingerprint, theirPublicKey, name));
 * ```
 */
export async function wrapForDevice(keyring: Keyring, fingerprint: Fingerprint, recipientPublicKey: string, context: string): Promise<Uint8Array> {
  assertKeyring(keyring);
  assertFingerprint(fingerprint);
  assertContext(context);
  const toKey = parsePublicKey(recipientPublicKey);
  const recipient = await importPublicKey(toKey, (cause) =>
    new HearthError("INVALID_ARGUMENT", `${shorten(recipientPublicKey)} is not a point on P-256; copy the public key exactly from the other device`, { cause }),
  );
  const me = await keyring.identity();
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(WRAP_IV_BYTES);
  const kek = await deviceKek(me.privateKey, recipient, salt);
  const header = { v: 1, kind: "device", fp: fingerprint, from: me.agreementPublicKey, to: publicKeyFingerprint(toKey), toKey, salt, iv } as const;
  const ct = await keyring.wrapKey(fingerprint, kek, iv, associatedData({ ...header, ct: new Uint8Array(0) }, context, fingerprint));
  return encodeKeyRecord({ ...header, ct });
}

/**
 * Opens a device record made for this device and stores the key in the
 * keyring (shareable, so this device can invite others in turn).
 *
 * @returns the key, and the device that wrapped it — authenticated (no one
 *   but that device, or this one, could have made the record), but check it
 *   is a device you trust: see the threat model in the module docs.
 * @throws HearthError `KEY_REQUIRED` if the record is for another device;
 *   `INTEGRITY` if it is malformed, not a device record, moved from another
 *   `context`, altered, or carries a key other than it names.
 */
export async function unwrapFromDevice(
  keyring: Keyring,
  record: Uint8Array,
  context: string,
  label?: string,
): Promise<{ key: DataKey; from: WrappingDevice }> {
  assertKeyring(keyring);
  assertContext(context);
  assertLabel(label);
  const parsed = decodeKeyRecord(record);
  if (parsed.kind !== "device") throw new HearthError("INTEGRITY", `key record ${JSON.stringify(context)} is a ${parsed.kind} record, not one made for a device`);
  const me = await keyring.identity();
  const mine = publicKeyFingerprint(me.agreementPublicKey);
  if (parsed.to !== mine) {
    throw new HearthError("KEY_REQUIRED", `this key record is for another device (${parsed.to}); this device's key is ${mine}, and it needs an invite of its own`);
  }
  if (!bytesEqual(parsed.toKey, me.agreementPublicKey)) throw new HearthError("INTEGRITY", "key record names this device's fingerprint with another public key");
  const wrapper = await importPublicKey(parsed.from, (cause) =>
    new HearthError("INTEGRITY", "key record's wrapping device key is not a point on P-256; the record is forged or damaged", { cause }),
  );
  const kek = await deviceKek(me.privateKey, wrapper, parsed.salt);
  const key = await keyring.unwrapKey(parsed.ct, kek, parsed.iv, associatedData(parsed, context, parsed.fp), label);
  checkFingerprint(key, parsed.fp);
  return { key, from: { publicKey: toBase64Url(parsed.from), fingerprint: publicKeyFingerprint(parsed.from) } };
}

/**
 * Reads a record's public header without any key: which keys it carries,
 * and for device records whom they are for and who claims to have wrapped
 * them. Sync uses it to list a sync point's members when rotating.
 *
 * @throws HearthError `INTEGRITY` if the record is malformed.
 */
export function describeKeyRecord(record: Uint8Array): KeyRecordHeader {
  const parsed = decodeKeyRecord(record);
  if (parsed.kind === "device") {
    return {
      kind: "device",
      fp: parsed.fp,
      fps: [parsed.fp],
      to: parsed.to,
      toKey: toBase64Url(parsed.toKey),
      from: { publicKey: toBase64Url(parsed.from), fingerprint: publicKeyFingerprint(parsed.from) },
    };
  }
  return { kind: "secret", fps: parsed.keys.map((k) => k.fp) };
}

/**
 * Wraps several keys (the epochs of a sync point) in one record under a
 * {@link SECRET_BYTES}-byte secret.
 *
 * @throws HearthError `KEY_REQUIRED`/`INVALID_ARGUMENT` as
 *   {@link wrapForDevice}; `INVALID_ARGUMENT` for an empty list or more than
 *   {@link MAX_KEYS_PER_RECORD} keys; `TypeError` unless `secret` is {@link SECRET_BYTES} bytes.
 */
export async function wrapWithSecret(keyring: Keyring, fingerprints: readonly Fingerprint[], secret: Uint8Array, context: string): Promise<Uint8Array> {
  assertKeyring(keyring);
  const fps = fingerprintList(fingerprints);
  assertSecret(secret);
  assertContext(context);
  const salt = randomBytes(SALT_BYTES);
  const kek = await secretKek(secret, salt);
  return wrapEntries(keyring, { v: 1, kind: "secret", salt, keys: [] }, fps, kek, context);
}

/**
 * Opens a secret record and stores its keys (shareable). Keys are stored as each one opens, so a failure
 * part-way leaves the earlier ones held.
 *
 * @returns the keys, in record order.
 * @throws HearthError `INTEGRITY` if the record is malformed, not a share
 *   record, moved from another `context`, altered, or made with another
 *   secret; `TypeError` unless `secret` is {@link SECRET_BYTES} bytes.
 */
export async function unwrapWithSecret(keyring: Keyring, record: Uint8Array, secret: Uint8Array, context: string, label?: string): Promise<DataKey[]> {
  assertKeyring(keyring);
  assertSecret(secret);
  assertContext(context);
  assertLabel(label);
  const parsed = decodeKeyRecord(record);
  if (parsed.kind !== "secret") throw new HearthError("INTEGRITY", `key record ${JSON.stringify(context)} is a ${parsed.kind} record, not a secret record`);
  return unwrapEntries(keyring, parsed, await secretKek(secret, parsed.salt), context, label);
}

// ---------------------------------------------------------------- internals

type MultiRecord = SecretRecord;

/** Wraps each key under `kek` with its own IV; the additional data binds the full list. */
async function wrapEntries(keyring: Keyring, base: MultiRecord, fps: Fingerprint[], kek: CryptoKey, context: string): Promise<Uint8Array> {
  const ivs = fps.map(() => randomBytes(WRAP_IV_BYTES));
  // The additional data covers the fingerprints, not the ciphertexts: build it over placeholders.
  const skeleton: MultiRecord = { ...base, keys: fps.map((fp, i) => ({ fp, iv: ivs[i]!, ct: new Uint8Array(0) })) };
  const keys: WrappedEntry[] = [];
  for (const [i, fp] of fps.entries()) {
    keys.push({ fp, iv: ivs[i]!, ct: await keyring.wrapKey(fp, kek, ivs[i]!, associatedData(skeleton, context, fp)) });
  }
  return encodeKeyRecord({ ...base, keys });
}

async function unwrapEntries(keyring: Keyring, record: MultiRecord, kek: CryptoKey, context: string, label: string | undefined): Promise<DataKey[]> {
  const keys: DataKey[] = [];
  for (const entry of record.keys) {
    const key = await keyring.unwrapKey(entry.ct, kek, entry.iv, associatedData(record, context, entry.fp), label);
    checkFingerprint(key, entry.fp);
    keys.push(key);
  }
  return keys;
}

/**
 * The raw ECDH point of a printable public key: an uncompressed P-256
 * point, or a device identity (that point followed by its signing key).
 */
function parsePublicKey(publicKey: unknown): Uint8Array {
  if (typeof publicKey !== "string") throw new TypeError(`a device public key must be a string, got ${typeof publicKey}`);
  let raw: Uint8Array | undefined;
  try {
    raw = fromBase64Url(publicKey);
  } catch {
    raw = undefined;
  }
  if (raw && raw.length === 2 * PUBLIC_KEY_BYTES && raw[PUBLIC_KEY_BYTES] === 4) raw = raw.subarray(0, PUBLIC_KEY_BYTES);
  if (!raw || raw.length !== PUBLIC_KEY_BYTES || raw[0] !== 4) {
    throw new HearthError("INVALID_ARGUMENT", `${shorten(publicKey)} is not a device public key (base64url of an uncompressed P-256 point); copy it exactly from the other device`);
  }
  return raw;
}

/** After a successful unwrap: the record's wrapper may still have lied about which key it wrapped. */
function checkFingerprint(key: DataKey, expected: Fingerprint): void {
  if (key.fingerprint !== expected) {
    throw new HearthError("INTEGRITY", `key record names key ${expected} but carries key ${key.fingerprint}; the device that wrapped it is faulty or hostile`);
  }
}

function fingerprintList(fingerprints: unknown): Fingerprint[] {
  if (!Array.isArray(fingerprints)) throw new TypeError("fingerprints must be an array of key fingerprints");
  for (const fp of fingerprints) assertFingerprint(fp);
  const unique = [...new Set(fingerprints as Fingerprint[])];
  if (unique.length === 0) throw new HearthError("INVALID_ARGUMENT", "no keys to wrap: pass the fingerprints of the sync point's keys");
  if (unique.length > MAX_KEYS_PER_RECORD) throw new HearthError("INVALID_ARGUMENT", `one record carries at most ${MAX_KEYS_PER_RECORD} keys, got ${unique.length}`);
  return unique;
}

function assertKeyring(keyring: unknown): asserts keyring is Keyring {
  const k = keyring as Partial<Keyring> | null;
  if (typeof k !== "object" || k === null || typeof k.wrapKey !== "function" || typeof k.unwrapKey !== "function" || typeof k.identity !== "function") {
    throw new TypeError("keyring must be a Keyring (from openMemoryKeyring, openFileKeyring or openIndexedDbKeyring)");
  }
}

function assertContext(context: unknown): asserts context is string {
  if (typeof context !== "string") throw new TypeError(`context must be a string, got ${typeof context}`);
  if (context.length === 0) throw new HearthError("INVALID_ARGUMENT", "context must not be empty: pass the record's name at the remote, which binds it to its sync point");
}

function assertLabel(label: unknown): asserts label is string | undefined {
  if (label !== undefined && typeof label !== "string") throw new TypeError(`label must be a string, got ${typeof label}`);
}

function assertSecret(secret: unknown): asserts secret is Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES) {
    throw new TypeError(`a wrapping secret is ${SECRET_BYTES} bytes (from a share code or a stretched passphrase)`);
  }
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function shorten(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
