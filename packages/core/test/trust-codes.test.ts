// The printable codes (src/trust/codes.ts) and the secrets behind share
// codes and passphrases (src/trust/access.ts): formats, typo detection,
// what a passphrase must be, and the bounds a hostile grant cannot push.
import { sha256 } from "multiformats/hashes/sha2";
import { CID } from "multiformats/cid";
import { describe, expect, it, vi } from "vitest";
import { webCryptoSigner } from "../src/crypto/signing.js";
import {
  assertStrongPassphrase, grantSigningPair, MAX_PASSPHRASE_LOG_N, MIN_PASSPHRASE_CHARS, MIN_PASSPHRASE_LOG_N, passphraseSecret, redeemMessage,
} from "../src/trust/access.js";
import {
  createShareCode, formatInvitation, INVITATION_PREFIX, parseInvitation, parseShareCode, pointMatches, pointPrefix, SECRET_BYTES, SHARE_CODE_PREFIX,
} from "../src/trust/codes.js";
import { HearthError } from "../src/errors.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

async function pointNamed(label: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(label)));
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof HearthError ? err.code : (err as Error).constructor.name;
  }
  return undefined;
}

describe("share codes (hs2-)", () => {
  it("carry the point's pin and a 128-bit secret, and parse back to both", async () => {
    const point = await pointNamed("point");
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const { code, secret } = createShareCode(point);
      expect(code).toMatch(/^hs2-[a-z2-7]{56}$/);
      expect(secret.length).toBe(SECRET_BYTES);
      const parsed = parseShareCode(code);
      expect(parsed.secret).toEqual(secret);
      expect(pointMatches(point, parsed.point)).toBe(true);
      expect(pointMatches(await pointNamed("another point"), parsed.point)).toBe(false);
      seen.add(code);
    }
    expect(seen.size).toBe(100);
  });

  it("parsing forgives case, surrounding space and separators", async () => {
    const { code, secret } = createShareCode(await pointNamed("point"));
    const body = code.slice(SHARE_CODE_PREFIX.length);
    for (const variant of [code.toUpperCase(), `  ${code}\n`, `hs2-${body.match(/.{4}/g)!.join("-")}`, `hs2-${body.match(/.{8}/g)!.join(" ")}`]) {
      expect(parseShareCode(variant).secret, variant).toEqual(secret);
    }
  });

  it("malformed codes are INVALID_ARGUMENT, each saying what is wrong; a non-string is a TypeError", async () => {
    const { code } = createShareCode(await pointNamed("point"));
    const body = code.slice(4);
    const cases: Array<[string, RegExp]> = [
      ["", /start with "hs2-"/],
      [body, /start with "hs2-"/],
      [`hs1-${body}`, /format hs1 is not known/],
      [`hs9-${body}`, /format hs9 is not known/],
      [`${INVITATION_PREFIX}${body}`, /start with "hs2-"/],
      [code.slice(0, -1), /cut off/],
      [`${code}a`, /joined with something else/],
      [code.slice(0, 10) + "0" + code.slice(11), /never uses/],
      [code.slice(0, 10) + "1" + code.slice(11), /never uses/],
      [code.slice(0, -1) + (code.endsWith("a") ? "b" : "a"), /mistyped/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseShareCode(text);
      } catch (e) {
        err = e;
      }
      expect((err as HearthError | undefined)?.code, JSON.stringify(text)).toBe("INVALID_ARGUMENT");
      expect((err as Error).message, JSON.stringify(text)).toMatch(message);
    }
    expect(codeOf(() => parseShareCode(42 as unknown as string))).toBe("TypeError");
  });

  it("every single-character typo of a fixed code is caught", async () => {
    // A fixed secret, so the outcome is the same on every run (3 check bytes
    // catch a random typo with probability 1 - 2^-24, not always).
    const fixed = Uint8Array.from({ length: SECRET_BYTES }, (_, i) => i * 7);
    const random = vi.spyOn(globalThis.crypto, "getRandomValues").mockImplementationOnce(<T extends ArrayBufferView | null>(array: T): T => {
      (array as unknown as Uint8Array).set(fixed);
      return array;
    });
    const { code, secret } = createShareCode(await pointNamed("fixed"));
    random.mockRestore();
    expect(secret).toEqual(fixed);
    // 35 bytes in 56 characters: no padding bits, so every change is a typo.
    let caught = 0;
    for (let at = SHARE_CODE_PREFIX.length; at < code.length; at++) {
      for (const c of ALPHABET) {
        if (c === code[at]) continue;
        expect(codeOf(() => parseShareCode(code.slice(0, at) + c + code.slice(at + 1)))).toBe("INVALID_ARGUMENT");
        caught++;
      }
    }
    expect(caught).toBe(56 * 31);
  });
});

describe("invitations (hi1-)", () => {
  it("carry the point's pin and nothing else, and parse back to it", async () => {
    const point = await pointNamed("point");
    const invitation = formatInvitation(point);
    expect(invitation).toMatch(/^hi1-[a-z2-7]{32}$/);
    expect(formatInvitation(point)).toBe(invitation);
    expect(parseInvitation(invitation)).toEqual(pointPrefix(point));
    expect(pointMatches(point, parseInvitation(` ${invitation.toUpperCase()} `))).toBe(true);
  });

  it("malformed invitations are INVALID_ARGUMENT; every single-character typo is caught", async () => {
    const invitation = formatInvitation(await pointNamed("point"));
    const { code } = createShareCode(await pointNamed("point"));
    for (const bad of ["", code, invitation.slice(0, -2), `${invitation}aa`, `hi2-${invitation.slice(4)}`, invitation.replace(/.$/, "0")]) {
      expect(codeOf(() => parseInvitation(bad)), bad).toBe("INVALID_ARGUMENT");
    }
    expect(codeOf(() => parseInvitation(undefined as unknown as string))).toBe("TypeError");
    for (let at = INVITATION_PREFIX.length; at < invitation.length; at++) {
      for (const c of ALPHABET) {
        if (c === invitation[at]) continue;
        // 20 bytes in 32 characters: no padding bits, so every change is a typo.
        expect(codeOf(() => parseInvitation(invitation.slice(0, at) + c + invitation.slice(at + 1)))).toBe("INVALID_ARGUMENT");
      }
    }
  });
});

describe("grant secrets", () => {
  it("a secret derives one signing key, the same every time, that signs redeem proofs", async () => {
    const secret = Uint8Array.from({ length: SECRET_BYTES }, (_, i) => i);
    const [first, again, other] = [await grantSigningPair(secret), await grantSigningPair(secret.slice()), await grantSigningPair(new Uint8Array(SECRET_BYTES))];
    expect(first.publicKey).toEqual(again.publicKey);
    expect(first.publicKey).not.toEqual(other.publicKey);
    const point = await pointNamed("point");
    const message = redeemMessage(point, await pointNamed("grant"), "ab".repeat(16) as never);
    const signature = await webCryptoSigner.sign(first.privateKey, message);
    expect(await webCryptoSigner.verify(again.publicKey, signature, message)).toBe(true);
    expect(await webCryptoSigner.verify(other.publicKey, signature, message)).toBe(false);
    // Another redeemer, grant or point is another message.
    expect(await webCryptoSigner.verify(first.publicKey, signature, redeemMessage(point, await pointNamed("grant"), "cd".repeat(16) as never))).toBe(false);
    await expect(grantSigningPair(new Uint8Array(8))).rejects.toBeInstanceOf(TypeError);
  });
});

describe("passphrases", () => {
  it("weak passphrases are refused with advice; strong ones pass", () => {
    const weak = [
      "1",
      "password",
      "correcthorse", // short
      "aaaaaaaaaaaaaaaaaaaaaaaa", // one character
      "abcdefghijklmnopqrstu", // one sequential run
      "abababababababababab", // too little variety
      "1234567890123456",
      "passwordpassword",
    ];
    for (const text of weak) {
      let err: unknown;
      try {
        assertStrongPassphrase(text);
      } catch (e) {
        err = e;
      }
      expect((err as HearthError | undefined)?.code, text).toBe("INVALID_ARGUMENT");
      expect((err as Error).message, text).toMatch(/offline/);
    }
    expect(MIN_PASSPHRASE_CHARS).toBeGreaterThanOrEqual(14);
    for (const strong of ["correct horse battery staple", "umber-fjord-kettle-saffron", "Tr0ub4dor&3-Zebra-Quilt"]) {
      expect(() => assertStrongPassphrase(strong), strong).not.toThrow();
    }
    expect(codeOf(() => assertStrongPassphrase(7 as unknown as string))).toBe("TypeError");
  });

  it("stretch with scrypt to a 16-byte secret, after Unicode normalisation, per salt", async () => {
    const salt = new Uint8Array(16).fill(1);
    const secret = await passphraseSecret("café crème brûlée", salt, MIN_PASSPHRASE_LOG_N);
    expect(secret.length).toBe(SECRET_BYTES);
    expect(await passphraseSecret("cafe\u0301 cre\u0300me bru\u0302le\u0301e", salt, MIN_PASSPHRASE_LOG_N)).toEqual(secret);
    expect(await passphraseSecret("café crème brûlée", new Uint8Array(16).fill(2), MIN_PASSPHRASE_LOG_N)).not.toEqual(secret);
    expect(await passphraseSecret("Café crème brûlée", salt, MIN_PASSPHRASE_LOG_N)).not.toEqual(secret);
  });

  it("a grant asking for a cost outside the bounds is INTEGRITY, before any work", async () => {
    const salt = new Uint8Array(16);
    for (const logN of [1, 10, MIN_PASSPHRASE_LOG_N - 1, MAX_PASSPHRASE_LOG_N + 1, 40, 14.5, Number.NaN]) {
      await expect(passphraseSecret("correct horse battery staple", salt, logN), String(logN)).rejects.toMatchObject({ code: "INTEGRITY" });
    }
    await expect(passphraseSecret("", salt, MIN_PASSPHRASE_LOG_N)).rejects.toBeInstanceOf(TypeError);
  });
});
