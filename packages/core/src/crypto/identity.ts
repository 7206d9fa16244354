/**
 * Device identities: an ECDH P-256 key pair (other devices wrap data keys
 * for its public key) and an ECDSA P-256 signing pair (`signing.ts`: what
 * the device adds to a sync point is signed with it). The public keys have
 * a printable form (base64url of the uncompressed SEC1 point) and a short
 * fingerprint. Persistent keyrings store the pairs as JWK; in memory the
 * private keys are generated non-extractable and never leave WebCrypto.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { DeviceIdentity } from "../keyring/types.js";
import { concatBytes, toBase64Url } from "./encoding.js";
import { fingerprintOf } from "./fingerprint.js";
import { generateSigningPair, type SigningPair } from "./signing.js";

const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;
const PRIVATE_USAGES: KeyUsage[] = ["deriveKey", "deriveBits"];

/** An identity key pair in the form persistent keyrings write to storage. */
export interface IdentityJwk {
  readonly publicKey: JsonWebKey;
  readonly privateKey: JsonWebKey;
}

/** A fresh identity whose private keys cannot be exported: for keyrings that never persist it. */
export async function generateIdentity(): Promise<DeviceIdentity> {
  const pair = await globalThis.crypto.subtle.generateKey(ECDH_P256, false, PRIVATE_USAGES);
  const rawPublic = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", pair.publicKey));
  return composeIdentity(rawPublic, pair.privateKey, await generateSigningPair());
}

/**
 * The identity made of an ECDH pair (raw public point, private key) and a
 * signing pair. Its printable `publicKey` is both public keys together
 * (base64url of agreement ‖ verify, 130 bytes), its `fingerprint` the first
 * 16 bytes of their SHA-256, in hex: one name commits to both keys.
 */
export async function composeIdentity(agreementPublic: Uint8Array, agreementPrivate: CryptoKey, signing: SigningPair): Promise<DeviceIdentity> {
  return {
    ...(await describePublicKey(concatBytes(agreementPublic, signing.publicKey))),
    privateKey: agreementPrivate,
    agreementPublicKey: agreementPublic,
    signingKey: signing.privateKey,
    signingPublicKey: signing.publicKey,
  };
}

/**
 * A fresh identity as JWK, for keyrings that must write it somewhere. The
 * pair is generated extractable only for that one export; load it back with
 * {@link identityFromJwk}, which re-imports the private key non-extractable.
 */
export async function generateIdentityJwk(): Promise<IdentityJwk> {
  const pair = await globalThis.crypto.subtle.generateKey(ECDH_P256, true, PRIVATE_USAGES);
  const [publicKey, privateKey] = await Promise.all([
    globalThis.crypto.subtle.exportKey("jwk", pair.publicKey),
    globalThis.crypto.subtle.exportKey("jwk", pair.privateKey),
  ]);
  return { publicKey, privateKey };
}

/**
 * Loads a stored identity (its ECDH pair as JWK, its signing pair loaded
 * already). The private key is imported non-extractable.
 * @throws HearthError `INTEGRITY` if the JWKs are not a matching P-256 pair.
 */
export async function identityFromJwk(jwk: IdentityJwk, signing: SigningPair): Promise<DeviceIdentity> {
  const { publicKey, privateKey } = jwk;
  if (
    typeof publicKey !== "object" || publicKey === null || typeof privateKey !== "object" || privateKey === null ||
    publicKey.kty !== "EC" || publicKey.crv !== "P-256" || privateKey.x !== publicKey.x || privateKey.y !== publicKey.y
  ) {
    throw new HearthError("INTEGRITY", "stored device identity is not a matching ECDH P-256 key pair");
  }
  try {
    const publicPoint = await globalThis.crypto.subtle.importKey("jwk", publicOnly(publicKey), ECDH_P256, true, []);
    const rawPublic = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", publicPoint));
    const privateCryptoKey = await globalThis.crypto.subtle.importKey("jwk", privateKey, ECDH_P256, false, PRIVATE_USAGES);
    return await composeIdentity(rawPublic, privateCryptoKey, signing);
  } catch (cause) {
    throw new HearthError("INTEGRITY", "stored device identity cannot be imported as an ECDH P-256 key pair", { cause });
  }
}

/** The printable form and fingerprint of raw public key bytes (a P-256 point, or a device's two points). */
export async function describePublicKey(rawPublic: Uint8Array): Promise<{ publicKey: string; fingerprint: string }> {
  return { publicKey: toBase64Url(rawPublic), fingerprint: await fingerprintOf(rawPublic) };
}

/** Drops usages and flags a public JWK may carry that would make import refuse it. */
function publicOnly(jwk: JsonWebKey): JsonWebKey {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}
