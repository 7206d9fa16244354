/**
 * The key derivations behind key records (`wrap.ts`), each giving a
 * wrap-only AES-256-GCM key-encryption key (usages `wrapKey`/`unwrapKey`,
 * never `encrypt`: it can only ever wrap keys). Every KDF has its own HKDF
 * `info` label, so a secret used in one role derives nothing usable in
 * another.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { bufferSource } from "./encoding.js";

const DEVICE_INFO = utf8("hearth/wrap/device/v1");
const SECRET_INFO = utf8("hearth/wrap/secret/v1");
const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;
const KEK_USAGES: KeyUsage[] = ["wrapKey", "unwrapKey"];

/** HKDF-SHA-256 over a wrapping secret (128 uniformly random or already stretched bits, so no stretching here). */
export async function secretKek(secret: Uint8Array, salt: Uint8Array): Promise<CryptoKey> {
  return hkdfKek(secret, salt, SECRET_INFO);
}

/** HKDF-SHA-256 over ECDH(private, public) into a wrap-only AES-256-GCM key. */
export async function deviceKek(privateKey: CryptoKey, publicKey: CryptoKey, salt: Uint8Array): Promise<CryptoKey> {
  const shared = new Uint8Array(await globalThis.crypto.subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256));
  try {
    return await hkdfKek(shared, salt, DEVICE_INFO);
  } finally {
    shared.fill(0);
  }
}

async function hkdfKek(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<CryptoKey> {
  const base = await globalThis.crypto.subtle.importKey("raw", bufferSource(ikm), "HKDF", false, ["deriveKey"]);
  return globalThis.crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: bufferSource(salt), info: bufferSource(info) },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    KEK_USAGES,
  );
}

/** Imports a raw P-256 point, turning WebCrypto's refusal into the caller's error. */
export async function importPublicKey(raw: Uint8Array, invalid: (cause: unknown) => HearthError): Promise<CryptoKey> {
  try {
    return await globalThis.crypto.subtle.importKey("raw", bufferSource(raw), ECDH_P256, false, []);
  } catch (cause) {
    throw invalid(cause);
  }
}

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}
