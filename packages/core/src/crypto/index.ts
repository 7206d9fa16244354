/**
 * The crypto layer: AES-256-GCM envelopes, data keys and device identities,
 * all over WebCrypto (`globalThis.crypto.subtle`) so the same code runs in
 * Node and browsers.
 *
 * @module
 */
export { seal, unseal, readEnvelopeFingerprint, ENVELOPE_VERSION, HEADER_BYTES, IV_BYTES, MIN_ENVELOPE_BYTES, TAG_BYTES } from "./envelope.js";
export { fingerprintOf, isFingerprint, assertFingerprint, FINGERPRINT_BYTES } from "./fingerprint.js";
export { generateDataKey, generateRawDataKey, importDataKey, assertRawDataKey, DATA_KEY_BYTES } from "./data-key.js";
export { generateIdentity, generateIdentityJwk, identityFromJwk, describePublicKey, type IdentityJwk } from "./identity.js";
export { toHex, fromHex, toBase64Url, fromBase64Url, concatBytes, bytesEqual } from "./encoding.js";
export {
  wrapForDevice, unwrapFromDevice, describeKeyRecord, wrapWithSecret, unwrapWithSecret,
  MAX_KEYS_PER_RECORD, KEY_RECORD_VERSION, SECRET_BYTES, type KeyRecordHeader, type WrappingDevice,
} from "./wrap.js";
