/**
 * The token store conformance suite: every backend's `TokenStore` passes
 * it, with two instances over the same storage (as two server processes,
 * or a server and `hearth token create`, would be).
 *
 * @module
 */
import { describe, expect, it } from "vitest";
import { HearthError } from "@hearth/core";
import { parseToken } from "../../src/backend/token-secret.js";
import type { TokenStore } from "../../src/backend/types.js";

/** Two token stores over the same storage, and fresh ledger names. */
export interface TokenStoreFactory {
  readonly label: string;
  stores(): Promise<{ one: TokenStore; two: TokenStore }>;
  ledger(what: string): string;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(HearthError);
  return (err as HearthError).code;
}

/** Registers the suite's cases under `describe(label)`. */
export function describeTokenStore(factory: TokenStoreFactory): void {
  describe(`${factory.label} token store`, () => {
    it("a token made through one instance is checked, listed and revoked through another", async () => {
      const { one, two } = await factory.stores();
      const l = factory.ledger("tok");
      const { record, token } = await one.create({ ledger: l, rights: "read-write" });
      expect(parseToken(token)?.id).toBe(record.id);
      expect(await two.verify(token)).toEqual(record);
      expect(await two.list(l)).toEqual([record]);
      expect(await two.revoke(record.id)).toBe(true);
      expect(await one.verify(token)).toBeUndefined();
      expect(await one.revoke(record.id)).toBe(true);
      const [listed] = await one.list(l);
      expect(listed?.revokedAt).toBeGreaterThanOrEqual(record.createdAt);
      expect(await one.revoke("0123456789abcdef")).toBe(false);
      expect(await one.revoke("not an id")).toBe(false);
    });

    it("refuses wrong secrets, malformed tokens and expired tokens; keeps rights and expiry", async () => {
      const { one, two } = await factory.stores();
      const l = factory.ledger("tok");
      const { record, token } = await one.create({ ledger: l, rights: "read", expiresAt: Date.now() + 60_000 });
      expect(await two.verify(token)).toEqual(record);
      expect(record.rights).toBe("read");
      const wrongSecret = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
      for (const bad of [wrongSecret, "", "htk_", `${token}x`, "Bearer x"]) expect(await two.verify(bad), bad).toBeUndefined();
      const expired = await one.create({ ledger: l, rights: "read-write", expiresAt: Date.now() - 1 });
      expect(await two.verify(expired.token)).toBeUndefined();
      expect((await two.list(l)).map((r) => r.id)).toEqual([record.id, expired.record.id]);
      expect((await two.list()).length).toBeGreaterThanOrEqual(2);
      expect(await codeOf(one.create({ ledger: ".bad", rights: "read" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(one.create({ ledger: l, rights: "admin" as "read" }))).toBe("INVALID_ARGUMENT");
    });

    it("knows which ledgers exist: once a token was made (revoked or not), never before; no stale 'no'", async () => {
      const { one, two } = await factory.stores();
      const l = factory.ledger("exists");
      expect(await two.hasLedger(l)).toBe(false);
      const { record } = await one.create({ ledger: l, rights: "read" });
      expect(await two.hasLedger(l)).toBe(true); // asked before, answered no: not remembered
      await one.revoke(record.id);
      expect(await one.hasLedger(l)).toBe(true);
      for (const odd of ["", ".complete", "../x", "a/b", factory.ledger("never")]) expect(await two.hasLedger(odd), odd).toBe(false);
    });
  });
}
