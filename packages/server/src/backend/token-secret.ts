/**
 * The token format every backend shares: `htk_<id>_<secret>`, where `id`
 * (16 hex digits) names the stored record and `secret` is 256 random bits
 * (base64url). Backends store only the SHA-256 of the secret, so a leaked
 * token store does not leak tokens, and compare in constant time, so
 * response timing does not reveal how much of a guess was right.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { HearthError } from "@hearth/core";
import { LEDGER_NAME } from "@hearth/core/wire";
import type { Rights, TokenRecord } from "./types.js";

const FORMAT = /^htk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Token ids: what `token list` shows and `token revoke` takes. */
export const TOKEN_ID = /^[0-9a-f]{16}$/;

/** A freshly minted token: its id, the printable token, and the hash to store. */
export interface MintedToken {
  readonly id: string;
  readonly token: string;
  readonly secretHash: string;
}

/** Mints a new token. */
export function mintToken(): MintedToken {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `htk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a well-formed token, or undefined. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const match = FORMAT.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** The stored form of a secret: SHA-256, hex. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** True if `secret` hashes to `storedHash`, compared in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, "hex");
  const actual = createHash("sha256").update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Throws `INVALID_ARGUMENT` unless the options of a token to create are usable. */
export function assertTokenOptions(options: { ledger: string; rights: Rights; expiresAt?: number }): void {
  if (typeof options.ledger !== "string" || !LEDGER_NAME.test(options.ledger)) {
    throw new HearthError("INVALID_ARGUMENT", `ledger name ${JSON.stringify(options.ledger)} is malformed: use 1–128 of A-Z a-z 0-9 . _ -, not starting with "."`);
  }
  if (options.rights !== "read" && options.rights !== "read-write") {
    throw new HearthError("INVALID_ARGUMENT", `rights must be "read" or "read-write", got ${JSON.stringify(options.rights)}`);
  }
  if (options.expiresAt !== undefined && !Number.isFinite(options.expiresAt)) throw new HearthError("INVALID_ARGUMENT", "expiresAt must be a time in ms since the epoch");
}

/**
 * Checks the options and mints a token for them: the record every token
 * store keeps, the printable token (shown once) and the hash to store.
 */
export function newToken(options: { ledger: string; rights: Rights; expiresAt?: number }): { record: TokenRecord; token: string; secretHash: string } {
  assertTokenOptions(options);
  const minted = mintToken();
  const record: TokenRecord = {
    id: minted.id,
    ledger: options.ledger,
    rights: options.rights,
    createdAt: Date.now(),
    ...(options.expiresAt !== undefined && { expiresAt: options.expiresAt }),
  };
  return { record, token: minted.token, secretHash: minted.secretHash };
}
