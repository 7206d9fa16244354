/**
 * Device signatures: ECDSA P-256 with SHA-256, the signature in IEEE P1363
 * form (r ‖ s, 64 bytes). Every device signs what it adds to a sync point
 * (membership entries, the statements that vouch for its pushed events), so
 * that no one else, the sync point included, can speak for it.
 *
 * Why ECDSA P-256: WebCrypto has had it everywhere for years (Ed25519 only
 * recently), so no JavaScript curve code is needed, and it is the curve of
 * the device's key-agreement identity too. In Node a WebCrypto call costs
 * ~50 µs of thread-pool hop; the Node platform passes `nodeSigner`
 * (`signing-node.ts`), which makes the same signatures synchronously.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { bufferSource } from "./encoding.js";

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
/** Bytes of a raw uncompressed P-256 public key. */
export const SIGNING_PUBLIC_KEY_BYTES = 65;
/** Bytes of a signature (r ‖ s). */
export const SIGNATURE_BYTES = 64;

/** Makes and checks signatures; one implementation per platform, the same bytes on each. */
export interface Signer {
  /** Signs `data` with a private ECDSA P-256 key. */
  sign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array>;
  /** True when `signature` is `publicKey`'s (raw uncompressed point) over `data`; false for anything malformed. */
  verify(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
}

/** A signing key pair in the form persistent keyrings write to storage. */
export interface SigningJwk {
  readonly publicKey: JsonWebKey;
  readonly privateKey: JsonWebKey;
}

/** A loaded signing key pair: the private key (non-extractable) and the raw public point. */
export interface SigningPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array;
}

/** A fresh signing pair whose private key cannot be exported (memory and IndexedDB keyrings). */
export async function generateSigningPair(): Promise<SigningPair> {
  const pair = await globalThis.crypto.subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", pair.publicKey)) };
}

/** A fresh signing pair as JWK, for keyrings that write it to storage; load it with {@link signingFromJwk}. */
export async function generateSigningJwk(): Promise<SigningJwk> {
  const pair = await globalThis.crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const [publicKey, privateKey] = await Promise.all([
    globalThis.crypto.subtle.exportKey("jwk", pair.publicKey),
    globalThis.crypto.subtle.exportKey("jwk", pair.privateKey),
  ]);
  return { publicKey, privateKey };
}

/**
 * Loads a stored signing pair; the private key is imported non-extractable.
 * @throws HearthError `INTEGRITY` if the JWKs are not a matching P-256 pair.
 */
export async function signingFromJwk(jwk: SigningJwk): Promise<SigningPair> {
  const { publicKey, privateKey } = jwk;
  if (
    typeof publicKey !== "object" || publicKey === null || typeof privateKey !== "object" || privateKey === null ||
    publicKey.kty !== "EC" || publicKey.crv !== "P-256" || privateKey.x !== publicKey.x || privateKey.y !== publicKey.y
  ) {
    throw new HearthError("INTEGRITY", "stored signing key is not a matching ECDSA P-256 key pair");
  }
  try {
    const point = await globalThis.crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: publicKey.x, y: publicKey.y }, ECDSA_P256, true, ["verify"]);
    const raw = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", point));
    const { key_ops: _ops, ext: _ext, ...bare } = privateKey;
    return { privateKey: await globalThis.crypto.subtle.importKey("jwk", bare, ECDSA_P256, false, ["sign"]), publicKey: raw };
  } catch (cause) {
    throw new HearthError("INTEGRITY", "stored signing key cannot be imported as an ECDSA P-256 key pair", { cause });
  }
}

/** The portable WebCrypto signer. */
export const webCryptoSigner: Signer = {
  async sign(privateKey, data) {
    return new Uint8Array(await globalThis.crypto.subtle.sign(SIGN, privateKey, bufferSource(data)));
  },
  async verify(publicKey, signature, data) {
    if (publicKey.length !== SIGNING_PUBLIC_KEY_BYTES || publicKey[0] !== 4 || signature.length !== SIGNATURE_BYTES) return false;
    try {
      const key = await importVerifyKey(publicKey);
      return await globalThis.crypto.subtle.verify(SIGN, key, bufferSource(signature), bufferSource(data));
    } catch {
      return false;
    }
  },
};

/** Imported verification keys by their raw bytes (hex): a member's key verifies many statements. */
const verifyKeys = new Map<string, Promise<CryptoKey>>();
const VERIFY_KEY_CACHE = 256;

function importVerifyKey(raw: Uint8Array): Promise<CryptoKey> {
  const id = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
  let key = verifyKeys.get(id);
  if (!key) {
    key = globalThis.crypto.subtle.importKey("raw", bufferSource(raw), ECDSA_P256, false, ["verify"]);
    key.catch(() => verifyKeys.delete(id));
    verifyKeys.set(id, key);
    if (verifyKeys.size > VERIFY_KEY_CACHE) verifyKeys.delete(verifyKeys.keys().next().value as string);
  }
  return key;
}
