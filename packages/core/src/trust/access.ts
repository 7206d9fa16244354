/**
 * The secrets behind share codes and passphrases, and what each derives.
 *
 * A grant entry (`code` or `pass`) in the membership log carries the
 * point's keys sealed under the secret, and the public half of a signing
 * key derived from it. Redeeming means signing a proof (the point, the
 * grant, the redeemer) with that derived key, inside an entry the redeemer
 * signs too: members check the proof against the grant, so only someone
 * who knows the secret can redeem, and a redeem cannot be moved to another
 * device. The sync point sees the grant and the proof, never the secret.
 *
 * - Share codes: 128 random bits (./codes.ts); no stretching needed.
 * - Passphrases: scrypt (N = 2^15, r = 8, p = 1: 32 MiB, a few hundred ms,
 *   via `@noble/hashes`, as WebCrypto has no memory-hard KDF) into the same
 *   16-byte secret. Anyone who can read the sync point can still test
 *   guesses offline against the grant, at that cost per guess: only a
 *   strong passphrase resists, so weak ones are refused
 *   ({@link assertStrongPassphrase}).
 *
 * The derived signing key is a P-256 key whose scalar comes from HKDF over
 * the secret. WebCrypto cannot generate a key from a seed, but it imports a
 * PKCS#8 private key and computes its public point, which is all this needs.
 *
 * Portable.
 *
 * @module
 */
import { scryptAsync } from "@noble/hashes/scrypt.js";
import type { CID } from "multiformats/cid";
import { HearthError } from "../errors.js";
import { bufferSource, concatBytes, fromHex } from "../crypto/encoding.js";
import type { SigningPair } from "../crypto/signing.js";
import { SECRET_BYTES } from "./codes.js";
import type { DeviceFingerprint } from "./device.js";

/** scrypt cost (log2 N) new passphrase grants use. */
export const PASSPHRASE_LOG_N = 15;
/** The costs a passphrase grant may ask for: below is too weak, above would stall a device. */
export const MIN_PASSPHRASE_LOG_N = 14;
export const MAX_PASSPHRASE_LOG_N = 20;
/** Fewest characters a passphrase may have. */
export const MIN_PASSPHRASE_CHARS = 14;

const SIGN_INFO = new TextEncoder().encode("hearth/grant/sign/v1");
const PROOF_DOMAIN = new TextEncoder().encode("hearth/redeem/v1\0");
/** PKCS#8 header of a P-256 private key without its optional public key; the 32-byte scalar follows. */
const PKCS8_P256_PREFIX = fromHex("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420");

/** The signing key a grant's secret derives (deterministic: the same secret, the same key). */
export async function grantSigningPair(secret: Uint8Array): Promise<SigningPair> {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES) throw new TypeError(`a grant secret is ${SECRET_BYTES} bytes`);
  const base = await globalThis.crypto.subtle.importKey("raw", bufferSource(secret), "HKDF", false, ["deriveBits"]);
  // A scalar ≥ the curve order (probability ~2^-32) fails to import: take the next one.
  for (let counter = 0; counter < 8; counter++) {
    const info = concatBytes(SIGN_INFO, Uint8Array.of(counter));
    const scalar = new Uint8Array(
      await globalThis.crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: bufferSource(info) }, base, 256),
    );
    try {
      const extractable = await globalThis.crypto.subtle.importKey(
        "pkcs8", bufferSource(concatBytes(PKCS8_P256_PREFIX, scalar)), { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"],
      );
      const jwk = await globalThis.crypto.subtle.exportKey("jwk", extractable);
      const point = await globalThis.crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
      const { key_ops: _ops, ext: _ext, ...bare } = jwk;
      const privateKey = await globalThis.crypto.subtle.importKey("jwk", bare, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      return { privateKey, publicKey: new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", point)) };
    } catch {
      // Out of range for P-256: try the next counter.
    } finally {
      scalar.fill(0);
    }
  }
  throw new HearthError("INTEGRITY", "could not derive a signing key from this secret");
}

/** What a redeem's proof signs: the point, the grant redeemed, and the redeeming device. */
export function redeemMessage(point: CID, grant: CID, member: DeviceFingerprint): Uint8Array {
  return concatBytes(PROOF_DOMAIN, point.bytes, grant.bytes, fromHex(member));
}

/** The 16-byte secret a passphrase stretches to, with a grant's salt and cost. */
export async function passphraseSecret(passphrase: string, salt: Uint8Array, logN: number): Promise<Uint8Array> {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new TypeError("a passphrase is a non-empty string");
  if (!Number.isSafeInteger(logN) || logN < MIN_PASSPHRASE_LOG_N || logN > MAX_PASSPHRASE_LOG_N) {
    throw new HearthError("INTEGRITY", `a passphrase grant asks for scrypt cost 2^${logN}, outside 2^${MIN_PASSPHRASE_LOG_N}–2^${MAX_PASSPHRASE_LOG_N}: it was weakened (or made to stall this device) by whoever wrote it`);
  }
  const bytes = new TextEncoder().encode(passphrase.normalize("NFKC"));
  return scryptAsync(bytes, salt, { N: 2 ** logN, r: 8, p: 1, dkLen: SECRET_BYTES, maxmem: 2 ** (logN + 11) });
}

/**
 * Refuses a passphrase that offline guessing would find: shorter than
 * {@link MIN_PASSPHRASE_CHARS}, made of one repeated or sequential run,
 * with fewer than 8 different characters, or with too little variety for
 * its length (an estimate of under 64 bits).
 *
 * @throws HearthError `INVALID_ARGUMENT` saying what makes it weak and what to use instead.
 */
export function assertStrongPassphrase(passphrase: string): void {
  if (typeof passphrase !== "string") throw new TypeError("a passphrase is a string");
  const text = passphrase.normalize("NFKC");
  const advice = "Use four or more unrelated words, or a password manager's generated passphrase. Anyone who can read the sync point can test guesses offline";
  if ([...text].length < MIN_PASSPHRASE_CHARS) {
    throw new HearthError("INVALID_ARGUMENT", `the passphrase is too short (${[...text].length} characters, at least ${MIN_PASSPHRASE_CHARS}). ${advice}.`);
  }
  const chars = [...text.toLowerCase()];
  const distinct = new Set(chars).size;
  const runs = chars.every((c, i) => i === 0 || Math.abs(c.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!) <= 1);
  let pool = 0;
  if (/[a-z]/.test(text)) pool += 26;
  if (/[A-Z]/.test(text)) pool += 26;
  if (/[0-9]/.test(text)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(text)) pool += 33;
  // Bits from the variety actually used: distinct characters bound what a guesser must cover.
  const bits = Math.log2(Math.max(2, Math.min(pool, distinct * 3))) * chars.length;
  if (distinct < 8 || runs || bits < 64) {
    throw new HearthError("INVALID_ARGUMENT", `the passphrase is too easy to guess (${distinct < 8 || runs ? "too little variety" : `about ${Math.round(bits)} bits`}). ${advice}.`);
  }
}
