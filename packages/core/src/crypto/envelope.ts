/**
 * The encryption envelope: AES-256-GCM with a random 96-bit IV per call.
 *
 * ```
 * offset  size  field
 *      0     1  version (1)
 *      1    16  fingerprint of the data key (binary)
 *     17    12  IV
 *     29   n+16 ciphertext followed by the 16-byte GCM tag
 * ```
 *
 * The key's fingerprint rides in the clear so a reader can pick the right
 * key (or say exactly which one it lacks) before trying to decrypt. The
 * version byte and fingerprint are authenticated together with the caller's
 * associated data, so none of them can be swapped without detection; the IV
 * is authenticated by GCM itself. Callers pass the name the value is stored
 * under as associated data, so moving a ciphertext to another name fails
 * authentication instead of yielding the wrong value.
 *
 * Random IVs bound one key to about 2^32 encryptions (NIST SP 800-38D);
 * keys are per store or per sync point, far below that.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { DataKey, Fingerprint } from "../keyring/types.js";
import { concatBytes, fromHex, toHex } from "./encoding.js";
import { webCryptoCipher, type AeadCipher } from "./cipher.js";
import { FINGERPRINT_BYTES } from "./fingerprint.js";

/** The only envelope version this code writes and reads. */
export const ENVELOPE_VERSION = 1;
/** Bytes of the GCM IV (96 bits, the size GCM is designed for). */
export const IV_BYTES = 12;
/** Bytes of the GCM authentication tag appended to the ciphertext. */
export const TAG_BYTES = 16;
/** Bytes before the ciphertext: version, fingerprint, IV. */
export const HEADER_BYTES = 1 + FINGERPRINT_BYTES + IV_BYTES;
/** Size of the smallest valid envelope (an empty plaintext). */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + TAG_BYTES;

const EMPTY = new Uint8Array(0);
const AUTHENTICATED_HEADER_BYTES = 1 + FINGERPRINT_BYTES;

/**
 * Encrypts `plaintext` under `key`, binding it to `aad` (e.g. the storage
 * name). Each call draws a fresh IV, so sealing the same value twice gives
 * different bytes.
 */
export async function seal(
  key: DataKey,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
  cipher: AeadCipher = webCryptoCipher,
): Promise<Uint8Array> {
  return sealNow(key, plaintext, aad, cipher);
}

/**
 * {@link seal} without a promise when `cipher` encrypts synchronously (the
 * Node platform's): a small `put` seals one value, and the promise and
 * microtask turn were a visible share of it. Same envelope either way.
 */
export function sealNow(key: DataKey, plaintext: Uint8Array, aad: Uint8Array, cipher: AeadCipher): Uint8Array | Promise<Uint8Array> {
  const header = authenticatedHeader(key);
  const iv = freshIv();
  const sealed = cipher.encrypt(key, iv, plaintext, concatBytes(header, aad), HEADER_BYTES);
  const finish = (envelope: Uint8Array): Uint8Array => {
    envelope.set(header, 0);
    envelope.set(iv, AUTHENTICATED_HEADER_BYTES);
    return envelope;
  };
  return sealed instanceof Uint8Array ? finish(sealed) : sealed.then(finish);
}

const headers = new Map<string, Uint8Array>();

/** Version byte and binary fingerprint, computed once per key. */
function authenticatedHeader(key: DataKey): Uint8Array {
  let header = headers.get(key.fingerprint);
  if (!header) {
    header = new Uint8Array(AUTHENTICATED_HEADER_BYTES);
    header[0] = ENVELOPE_VERSION;
    header.set(fromHex(key.fingerprint), 1);
    headers.set(key.fingerprint, header);
  }
  return header;
}

// IVs are drawn from a buffer of CSPRNG output refilled 256 IVs at a time:
// the same randomness as one getRandomValues call per IV, a fraction of the
// calls. Each IV is copied out and its bytes are never handed out twice.
const IV_POOL_IVS = 256;
const ivPool = new Uint8Array(IV_BYTES * IV_POOL_IVS);
let ivPoolUsed = IV_POOL_IVS;

function freshIv(): Uint8Array {
  if (ivPoolUsed === IV_POOL_IVS) {
    globalThis.crypto.getRandomValues(ivPool);
    ivPoolUsed = 0;
  }
  const start = ivPoolUsed++ * IV_BYTES;
  return ivPool.slice(start, start + IV_BYTES);
}

/**
 * Decrypts an envelope made by {@link seal} with the same `key` and `aad`.
 * @throws HearthError `INTEGRITY` if the envelope is truncated, of an unknown
 *   version, sealed with another key, altered, or sealed with other `aad`.
 */
export async function unseal(
  key: DataKey,
  envelope: Uint8Array,
  aad: Uint8Array = EMPTY,
  cipher: AeadCipher = webCryptoCipher,
): Promise<Uint8Array> {
  const fingerprint = readEnvelopeFingerprint(envelope);
  if (fingerprint !== key.fingerprint) {
    throw new HearthError(
      "INTEGRITY",
      `encrypted value was sealed with data key ${fingerprint}, not with the key ${key.fingerprint} it was opened with; look the key up by readEnvelopeFingerprint() first`,
    );
  }
  const header = envelope.subarray(0, HEADER_BYTES);
  const iv = envelope.slice(AUTHENTICATED_HEADER_BYTES, HEADER_BYTES);
  try {
    return await cipher.decrypt(key, iv, envelope.subarray(HEADER_BYTES), associatedData(header, aad));
  } catch (cause) {
    throw new HearthError(
      "INTEGRITY",
      `encrypted value failed authentication with data key ${fingerprint}: its bytes were altered or truncated, or it was moved from another name; restore it from a replica or backup`,
      { cause },
    );
  }
}

/**
 * The fingerprint of the key that sealed `envelope`, read from its header
 * without decrypting, so a caller can fetch that key from its keyring.
 * @throws HearthError `INTEGRITY` if `envelope` is too short to be one or
 *   has an unknown version.
 */
export function readEnvelopeFingerprint(envelope: Uint8Array): Fingerprint {
  if (envelope.length < MIN_ENVELOPE_BYTES) {
    throw new HearthError(
      "INTEGRITY",
      `encrypted value is ${envelope.length} bytes, shorter than the smallest envelope (${MIN_ENVELOPE_BYTES}): it was truncated or is not Hearth ciphertext`,
    );
  }
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new HearthError(
      "INTEGRITY",
      `encrypted value has envelope version ${envelope[0]}, but only version ${ENVELOPE_VERSION} is known: it is corrupt, or was written by a newer Hearth (upgrade to read it)`,
    );
  }
  return toHex(envelope.subarray(1, AUTHENTICATED_HEADER_BYTES)) as Fingerprint;
}

/** Version + fingerprint, then the caller's data: the header's fixed length keeps the join unambiguous. */
function associatedData(header: Uint8Array, aad: Uint8Array): Uint8Array {
  return concatBytes(header.subarray(0, AUTHENTICATED_HEADER_BYTES), aad);
}
