import { generateSigningJwk, signingFromJwk, webCryptoSigner } from "../src/crypto/signing.js";
import { nodeSigner } from "../src/crypto/signing-node.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { importDataKey, generateDataKey, DATA_KEY_BYTES } from "../src/crypto/data-key.js";
import { fromBase64Url, fromHex, toBase64Url, toHex } from "../src/crypto/encoding.js";
import { HEADER_BYTES, MIN_ENVELOPE_BYTES, TAG_BYTES, readEnvelopeFingerprint, seal, unseal } from "../src/crypto/envelope.js";
import { assertFingerprint, fingerprintOf, isFingerprint } from "../src/crypto/fingerprint.js";
import { generateIdentity, generateIdentityJwk, identityFromJwk } from "../src/crypto/identity.js";
import { HearthError } from "../src/errors.js";
import { expectCode } from "./helpers/expect-code.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);


/**
 * Known answers, computed with plain WebCrypto outside this code base, that
 * freeze the envelope format: key = bytes 0..31, IV = a0..ab, AAD = "doc/1".
 */
const FIXTURE = {
  raw: new Uint8Array(32).map((_, i) => i),
  fingerprint: "630dcd2966c4336691125448bbb25b4f",
  aad: "doc/1",
  plaintext: "hello, hearth",
  envelope:
    "01630dcd2966c4336691125448bbb25b4fa0a1a2a3a4a5a6a7a8a9aaab8e7d10412ae722d70704f5a76ff55832caf4f89a8a833f7aec91e2b816",
};

describe("fingerprints", () => {
  it("are hex of the first 16 bytes of SHA-256 over the raw key", async () => {
    // SHA-256 of 32 zero bytes is 66687aad f862bd77 6c8fc18b 8e9f8e20 0897...
    expect(await fingerprintOf(new Uint8Array(32))).toBe("66687aadf862bd776c8fc18b8e9f8e20");
    expect(await fingerprintOf(FIXTURE.raw)).toBe(FIXTURE.fingerprint);
  });

  it("have a checked shape", () => {
    expect(isFingerprint(FIXTURE.fingerprint)).toBe(true);
    for (const bad of ["", "ABCDEF".padEnd(32, "0"), "0".repeat(31), "0".repeat(33), "../../etc/passwd", 42]) {
      expect(isFingerprint(bad)).toBe(false);
      expect(() => assertFingerprint(bad)).toThrow(TypeError);
    }
  });
});

describe("envelope", () => {
  it("opens the known-answer envelope", async () => {
    const key = await importDataKey(FIXTURE.raw);
    expect(key.fingerprint).toBe(FIXTURE.fingerprint);
    const envelope = fromHex(FIXTURE.envelope);
    expect(readEnvelopeFingerprint(envelope)).toBe(FIXTURE.fingerprint);
    expect(new TextDecoder().decode(await unseal(key, envelope, utf8(FIXTURE.aad)))).toBe(FIXTURE.plaintext);
  });

  it("lays out version, fingerprint, IV, ciphertext and tag", async () => {
    const key = await importDataKey(FIXTURE.raw);
    const sealed = await seal(key, utf8("abc"), utf8("name"));
    expect(sealed.length).toBe(HEADER_BYTES + 3 + TAG_BYTES);
    expect(sealed[0]).toBe(1);
    expect(toHex(sealed.subarray(1, 17))).toBe(FIXTURE.fingerprint);
    expect(MIN_ENVELOPE_BYTES).toBe(HEADER_BYTES + TAG_BYTES);
  });

  it("round-trips any plaintext and AAD, with a fresh IV each time", async () => {
    const { dataKey } = await generateDataKey();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ maxLength: 64 }), async (plaintext, aad) => {
        const a = await seal(dataKey, plaintext, aad);
        const b = await seal(dataKey, plaintext, aad);
        expect(toHex(a.subarray(17, HEADER_BYTES))).not.toBe(toHex(b.subarray(17, HEADER_BYTES)));
        expect(await unseal(dataKey, a, aad)).toEqual(plaintext);
        expect(await unseal(dataKey, b, aad)).toEqual(plaintext);
      }),
      { numRuns: 100 },
    );
  });

  it("rejects other AAD, another key, truncation, every flipped bit position and unknown versions with INTEGRITY", async () => {
    const { dataKey } = await generateDataKey();
    const other = await generateDataKey();
    const sealed = await seal(dataKey, utf8("payload"), utf8("a"));
    await expectCode(unseal(dataKey, sealed, utf8("b")), "INTEGRITY");
    await expectCode(unseal(dataKey, sealed), "INTEGRITY");
    await expectCode(unseal(other.dataKey, sealed, utf8("a")), "INTEGRITY");
    for (const length of [0, 1, HEADER_BYTES, MIN_ENVELOPE_BYTES - 1, sealed.length - 1]) {
      await expectCode(unseal(dataKey, sealed.slice(0, length), utf8("a")), "INTEGRITY");
    }
    for (let at = 0; at < sealed.length; at++) {
      const tampered = sealed.slice();
      tampered[at]! ^= 0x80;
      await expectCode(unseal(dataKey, tampered, utf8("a")), "INTEGRITY");
    }
    expect(() => readEnvelopeFingerprint(new Uint8Array(10))).toThrow(HearthError);
  });

  it("accepts views into larger buffers", async () => {
    const { dataKey } = await generateDataKey();
    const backing = new Uint8Array(100).fill(7);
    const sealed = await seal(dataKey, backing.subarray(10, 20), backing.subarray(0, 5));
    const padded = new Uint8Array(sealed.length + 8);
    padded.set(sealed, 4);
    expect(await unseal(dataKey, padded.subarray(4, 4 + sealed.length), new Uint8Array(5).fill(7))).toEqual(
      new Uint8Array(10).fill(7),
    );
  });
});

describe("data keys", () => {
  it("are 32 random bytes imported non-extractable", async () => {
    const a = await generateDataKey();
    const b = await generateDataKey();
    expect(a.raw.length).toBe(DATA_KEY_BYTES);
    expect(a.dataKey.fingerprint).not.toBe(b.dataKey.fingerprint);
    expect(a.dataKey.key.extractable).toBe(false);
    expect(a.dataKey.fingerprint).toBe(await fingerprintOf(a.raw));
  });

  it("refuse raw keys of the wrong size with TypeError", async () => {
    await expect(importDataKey(new Uint8Array(16))).rejects.toBeInstanceOf(TypeError);
    await expect(importDataKey(new Uint8Array(33))).rejects.toBeInstanceOf(TypeError);
  });
});

describe("identities", () => {
  const signing = async () => signingFromJwk(await generateSigningJwk());

  it("survive a JWK round trip with a non-extractable private key", async () => {
    const jwk = await generateIdentityJwk();
    const signingPair = await signing();
    const a = await identityFromJwk(jwk, signingPair);
    const b = await identityFromJwk(JSON.parse(JSON.stringify(jwk)), signingPair);
    expect(b.publicKey).toBe(a.publicKey);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.privateKey.extractable).toBe(false);
    expect(fromBase64Url(a.publicKey).length).toBe(130); // the ECDH and the signing point
    expect(a.fingerprint).toBe(await fingerprintOf(fromBase64Url(a.publicKey)));
  });

  it("agree on an ECDH secret with each other", async () => {
    const alice = await identityFromJwk(await generateIdentityJwk(), await signing());
    const bob = await generateIdentity();
    const importPublic = (p: Uint8Array) =>
      globalThis.crypto.subtle.importKey("raw", p.slice() as Uint8Array<ArrayBuffer>, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const ab = await globalThis.crypto.subtle.deriveBits({ name: "ECDH", public: await importPublic(bob.agreementPublicKey) }, alice.privateKey, 256);
    const ba = await globalThis.crypto.subtle.deriveBits({ name: "ECDH", public: await importPublic(alice.agreementPublicKey) }, bob.privateKey, 256);
    expect(new Uint8Array(ab)).toEqual(new Uint8Array(ba));
  });

  it("refuse mismatched or malformed key pairs with INTEGRITY", async () => {
    const one = await generateIdentityJwk();
    const two = await generateIdentityJwk();
    const pair = await signing();
    await expectCode(identityFromJwk({ publicKey: one.publicKey, privateKey: two.privateKey }, pair), "INTEGRITY");
    await expectCode(identityFromJwk({ publicKey: { ...one.publicKey, x: "AAAA" }, privateKey: { ...one.privateKey, x: "AAAA" } }, pair), "INTEGRITY");
  });
});

describe("signatures", () => {
  it("WebCrypto and Node make interchangeable ECDSA P-256 signatures, and neither accepts a forgery", async () => {
    const jwk = await generateSigningJwk();
    const pair = await signingFromJwk(jwk);
    expect(pair.privateKey.extractable).toBe(false);
    const message = new TextEncoder().encode("hearth statement");
    for (const [signer, verifier] of [[webCryptoSigner, nodeSigner], [nodeSigner, webCryptoSigner], [nodeSigner, nodeSigner]] as const) {
      const signature = await signer.sign(pair.privateKey, message);
      expect(signature.length).toBe(64);
      expect(await verifier.verify(pair.publicKey, signature, message)).toBe(true);
      const flipped = signature.slice();
      flipped[10]! ^= 1;
      expect(await verifier.verify(pair.publicKey, flipped, message)).toBe(false);
      expect(await verifier.verify(pair.publicKey, signature, new TextEncoder().encode("another"))).toBe(false);
      expect(await verifier.verify(pair.publicKey, signature.subarray(0, 63), message)).toBe(false);
      expect(await verifier.verify(new Uint8Array(65), signature, message)).toBe(false);
      const stranger = await signingFromJwk(await generateSigningJwk());
      expect(await verifier.verify(stranger.publicKey, signature, message)).toBe(false);
    }
  });

  it("refuse mismatched signing pairs with INTEGRITY", async () => {
    const one = await generateSigningJwk();
    const two = await generateSigningJwk();
    await expectCode(signingFromJwk({ publicKey: one.publicKey, privateKey: two.privateKey }), "INTEGRITY");
  });
});

describe("encodings", () => {
  it("hex and base64url round-trip any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(fromHex(toHex(bytes))).toEqual(bytes);
        const b64 = toBase64Url(bytes);
        expect(b64).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(fromBase64Url(b64)).toEqual(bytes);
      }),
    );
  });

  it("match Node's base64url and refuse foreign characters", () => {
    const bytes = new Uint8Array(70000).map((_, i) => (i * 31) & 0xff);
    expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString("base64url"));
    expect(() => fromBase64Url("a+b/")).toThrow(TypeError);
    expect(() => fromHex("abc")).toThrow(TypeError);
    expect(() => fromHex("zz")).toThrow(TypeError);
  });
});
