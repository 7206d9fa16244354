// The server's cache of verified tokens: a valid token is asked of the
// store once per ttl, expiry is still checked on every use, a revocation
// made behind the cache's back takes effect after the ttl, and invalid
// tokens are never cached.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenRecord, TokenStore } from "../src/backend/types.js";
import { cacheTokens } from "../src/http/token-cache.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** A token store over a map of token → record, counting verify calls. */
function fakeStore(records: Map<string, TokenRecord>) {
  let calls = 0;
  const store = {
    async verify(token: string) {
      calls++;
      return records.get(token);
    },
    async hasLedger(ledger: string) {
      return [...records.values()].some((r) => r.ledger === ledger);
    },
  } as TokenStore;
  return { store, calls: () => calls };
}

describe("token cache", () => {
  it("asks the store once per ttl, and sees a revocation made elsewhere after the ttl", async () => {
    let now = 1_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const records = new Map<string, TokenRecord>([["t", { id: "1", ledger: "l", rights: "read-write", createdAt: 0 }]]);
    const { store, calls } = fakeStore(records);
    const cached = cacheTokens(store, { ttlMs: 1_000 });
    expect(await cached.verify("t")).toMatchObject({ ledger: "l" });
    expect(await cached.verify("t")).toMatchObject({ ledger: "l" });
    expect(calls()).toBe(1);
    records.delete("t"); // revoked through another process
    now += 999;
    expect(await cached.verify("t")).toBeDefined(); // still within the ttl
    now += 2;
    expect(await cached.verify("t")).toBeUndefined();
    expect(calls()).toBe(2);
    expect(await cached.hasLedger("l")).toBe(false);
  });

  it("checks expiry on every use, and never caches a refusal", async () => {
    let now = 5_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const records = new Map<string, TokenRecord>([["t", { id: "1", ledger: "l", rights: "read", createdAt: 0, expiresAt: 5_500 }]]);
    const { store, calls } = fakeStore(records);
    const cached = cacheTokens(store, { ttlMs: 10_000 });
    expect(await cached.verify("t")).toBeDefined();
    now = 5_500;
    records.delete("t"); // the store, too, no longer accepts it
    expect(await cached.verify("t")).toBeUndefined();
    expect(await cached.verify("nope")).toBeUndefined();
    expect(await cached.verify("nope")).toBeUndefined();
    expect(calls()).toBe(4);
  });

  it("with ttl 0 asks the store every time; a full cache starts over; a bad ttl is refused", async () => {
    const records = new Map<string, TokenRecord>(["a", "b", "c"].map((t) => [t, { id: t, ledger: "l", rights: "read", createdAt: 0 }]));
    const direct = fakeStore(records);
    const uncached = cacheTokens(direct.store, { ttlMs: 0 });
    await uncached.verify("a");
    await uncached.verify("a");
    expect(direct.calls()).toBe(2);
    const small = fakeStore(records);
    const bounded = cacheTokens(small.store, { maxEntries: 2 });
    for (const t of ["a", "b", "c", "a"]) await bounded.verify(t);
    expect(small.calls()).toBe(4); // "c" filled it past 2: the cache started over, so "a" was asked again
    expect(() => cacheTokens(direct.store, { ttlMs: -1 })).toThrow(TypeError);
  });
});
