/**
 * A short-lived cache of verified tokens in front of a {@link TokenStore}.
 * Every request carries a token, and checking one costs a file read (the
 * filesystem backend) or a query (PostgreSQL) plus a hash; a client
 * syncing a busy ledger sends several requests a second with the same
 * token. So a token found valid is trusted again, without asking the store,
 * for `ttlMs`: a revocation made elsewhere (the CLI, another instance)
 * takes effect within that time, and expiry is still checked on every use.
 * Tokens found invalid are not cached (nothing to gain, and a flood of
 * made-up tokens must not grow memory); the cache holds at most
 * `maxEntries` tokens.
 *
 * Watch sockets re-check their token against the store itself at every
 * ping, so a long-lived watch is not extended by this cache.
 *
 * @module
 */
import type { TokenRecord, TokenStore } from "../backend/types.js";

/** Options of {@link cacheTokens}. */
export interface TokenCacheOptions {
  /** How long a verified token is trusted without asking the store again (ms, default 1000; 0 turns the cache off). */
  readonly ttlMs?: number;
  /** Most tokens remembered (default 10 000); when full, the cache starts over. */
  readonly maxEntries?: number;
}

/** What authorizing a request needs of a token store. */
export type TokenCheck = Pick<TokenStore, "verify" | "hasLedger">;

/** `tokens`, with `verify` answered from a cache of recent successes; see the module docs. */
export function cacheTokens(tokens: TokenStore, options: TokenCacheOptions = {}): TokenCheck {
  const ttlMs = options.ttlMs ?? 1_000;
  const maxEntries = options.maxEntries ?? 10_000;
  if (!(ttlMs >= 0)) throw new TypeError(`token cache ttlMs must be ≥ 0, got ${ttlMs}`);
  const hasLedger = (ledger: string): Promise<boolean> => tokens.hasLedger(ledger);
  if (ttlMs === 0) return { verify: (token) => tokens.verify(token), hasLedger };
  const verified = new Map<string, { record: TokenRecord; until: number }>();
  const verify = async (token: string): Promise<TokenRecord | undefined> => {
    const now = Date.now();
    const hit = verified.get(token);
    if (hit && hit.until > now && (hit.record.expiresAt === undefined || hit.record.expiresAt > now)) return hit.record;
    verified.delete(token);
    const record = await tokens.verify(token);
    if (record) {
      if (verified.size >= maxEntries) verified.clear();
      verified.set(token, { record, until: now + ttlMs });
    }
    return record;
  };
  return { verify, hasLedger };
}
