/**
 * What every keyring shares to wrap and unwrap data keys: argument checks
 * and the WebCrypto calls. Wrapping is plain AES-GCM over the 32 raw key
 * bytes (`subtle.wrapKey("raw", …)` produces exactly that), so a key
 * wrapped by one keyring kind unwraps in any other.
 *
 * Why `wrapKey`/`unwrapKey` even where a keyring holds raw bytes (memory,
 * file): the key-encryption key then needs only the `wrapKey`/`unwrapKey`
 * usages, and one derived KEK works with every keyring. A KEK that cannot
 * `encrypt` cannot be misused to encrypt anything but keys.
 *
 * @module
 */
import { bufferSource } from "../crypto/encoding.js";
import { DATA_KEY_BYTES } from "../crypto/data-key.js";
import { WRAP_IV_BYTES } from "../crypto/wrap-record.js";
import { HearthError } from "../errors.js";
import type { Fingerprint, KeyOptions } from "./types.js";

const AES_GCM_USAGES: KeyUsage[] = ["encrypt", "decrypt"];

/** The `shareable` flag of `options`; `TypeError` unless it is absent or an object with an optional boolean. */
export function shareableOption(options: KeyOptions | undefined): boolean {
  if (options === undefined) return false;
  if (typeof options !== "object" || options === null) throw new TypeError(`key options must be an object, got ${options === null ? "null" : typeof options}`);
  const { shareable } = options;
  if (shareable !== undefined && typeof shareable !== "boolean") throw new TypeError(`options.shareable must be a boolean, got ${typeof shareable}`);
  return shareable === true;
}

/** `TypeError` unless `label` is absent or a string. */
export function assertLabel(label: unknown): asserts label is string | undefined {
  if (label !== undefined && typeof label !== "string") throw new TypeError(`key label must be a string, got ${typeof label}`);
}

/**
 * `TypeError` unless the key-encryption key, IV and additional data have
 * the shapes `Keyring.wrapKey` documents. Checked before any keyring
 * lookup, so a programmer mistake never reads as a missing key.
 */
export function assertWrapArguments(kek: unknown, iv: unknown, additionalData: unknown, usage: "wrapKey" | "unwrapKey"): void {
  if (!isCryptoKey(kek)) throw new TypeError(`the ${usage === "wrapKey" ? "wrapping" : "unwrapping"} key must be a CryptoKey`);
  if (kek.algorithm.name !== "AES-GCM" || !kek.usages.includes(usage)) {
    throw new TypeError(`the ${usage === "wrapKey" ? "wrapping" : "unwrapping"} key must be an AES-GCM CryptoKey with the "${usage}" usage`);
  }
  if (!(iv instanceof Uint8Array) || iv.length !== WRAP_IV_BYTES) throw new TypeError(`the IV must be ${WRAP_IV_BYTES} bytes`);
  if (!(additionalData instanceof Uint8Array)) throw new TypeError("additionalData must be a Uint8Array");
}

/** `TypeError` unless `wrapped` is bytes (its length is checked by authentication). */
export function assertWrapped(wrapped: unknown): asserts wrapped is Uint8Array {
  if (!(wrapped instanceof Uint8Array)) throw new TypeError(`a wrapped key must be a Uint8Array, got ${typeof wrapped}`);
}

/** Wraps an extractable AES-GCM `CryptoKey` (IndexedDB keeps shareable keys so). */
export async function wrapCryptoKey(key: CryptoKey, kek: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
  const params: AesGcmParams = { name: "AES-GCM", iv: bufferSource(iv), additionalData: bufferSource(additionalData) };
  return new Uint8Array(await globalThis.crypto.subtle.wrapKey("raw", key, kek, params));
}

/** Wraps raw key bytes (memory and file keyrings). The transient extractable key never leaves this call. */
export async function wrapRawKey(raw: Uint8Array, kek: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
  const key = await globalThis.crypto.subtle.importKey("raw", bufferSource(raw), { name: "AES-GCM" }, true, AES_GCM_USAGES);
  return wrapCryptoKey(key, kek, iv, additionalData);
}

/**
 * Opens a wrapped key and returns its raw bytes, which every keyring needs:
 * the fingerprint is a hash of them, and each keyring persists them in its
 * own form. The caller zeroes them when done.
 *
 * @throws HearthError `INTEGRITY` if authentication fails or the plaintext
 *   is not a 32-byte key (GCM would happily carry a 16-byte AES-128 key).
 */
export async function unwrapRawKey(wrapped: Uint8Array, kek: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
  const params: AesGcmParams = { name: "AES-GCM", iv: bufferSource(iv), additionalData: bufferSource(additionalData) };
  let key: CryptoKey;
  try {
    key = await globalThis.crypto.subtle.unwrapKey("raw", bufferSource(wrapped), kek, params, { name: "AES-GCM" }, true, AES_GCM_USAGES);
  } catch (cause) {
    throw new HearthError(
      "INTEGRITY",
      "wrapped key failed to authenticate: it was altered, moved to another name or sync point, or wrapped with another key",
      { cause },
    );
  }
  const raw = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", key));
  if (raw.length !== DATA_KEY_BYTES) {
    raw.fill(0);
    throw new HearthError("INTEGRITY", `wrapped key holds ${raw.length} bytes, not a ${DATA_KEY_BYTES}-byte data key; it was not made by Hearth`);
  }
  return raw;
}

/** The error for wrapping a key the keyring lacks. */
export function keyMissing(fingerprint: Fingerprint, url: string): HearthError {
  return new HearthError("KEY_REQUIRED", `keyring ${url} does not hold key ${fingerprint}, so it cannot wrap it; wrap it from a device that holds it`);
}

/** The error for wrapping a local (non-shareable) key. */
export function notShareable(fingerprint: Fingerprint, url: string): HearthError {
  return new HearthError(
    "INVALID_ARGUMENT",
    `key ${fingerprint} in keyring ${url} is not shareable: it was created as a local key, which never leaves this device; ` +
      `only keys created or imported with { shareable: true } (sync point keys) can be wrapped for others`,
  );
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey === "function" ? value instanceof CryptoKey : typeof value === "object" && value !== null && "algorithm" in value && "usages" in value;
}
