/**
 * Tokens of the S3 + PostgreSQL backend: one row per token in the
 * `tokens` table, in the format every backend shares (`token-secret.ts`:
 * `htk_<id>_<secret>`, SHA-256 of the secret stored, compared in constant
 * time). Every instance reads the table on each request, so a token
 * created or revoked through any instance (or `hearth token` run against
 * the same database) takes effect everywhere at once.
 *
 * @module
 */
import { HearthError } from "@hearth/core";
import type pg from "pg";
import { newToken, parseToken, secretMatches, TOKEN_ID } from "../token-secret.js";
import type { Rights, TokenRecord, TokenStore } from "../types.js";
import { pgFailure, quoteSchema } from "./schema.js";

interface TokenRow {
  id: string;
  ledger: string;
  rights: Rights;
  secret_sha256: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = "id, ledger, rights, secret_sha256, created_at, expires_at, revoked_at";

/** See the module docs. */
export class PgTokens implements TokenStore {
  private readonly table: string;
  /** Ledgers known to exist: tokens are never deleted, so once true, always true. */
  private readonly knownLedgers = new Set<string>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.table = `${quoteSchema(schema)}.tokens`;
  }

  async create(options: { ledger: string; rights: Rights; expiresAt?: number }): Promise<{ record: TokenRecord; token: string }> {
    const minted = newToken(options);
    const { record } = minted;
    const result = await this.query(
      "cannot create a token",
      `INSERT INTO ${this.table} (id, ledger, rights, secret_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
      [record.id, record.ledger, record.rights, minted.secretHash, new Date(record.createdAt), record.expiresAt === undefined ? null : new Date(record.expiresAt)],
    );
    // 64 random bits: a collision is all but impossible, and never overwrites.
    if (result.rowCount !== 1) throw new HearthError("STORAGE_FAILED", `token id ${record.id} already exists; try again`);
    this.knownLedgers.add(record.ledger);
    return { record, token: minted.token };
  }

  async verify(token: string): Promise<TokenRecord | undefined> {
    const parsed = typeof token === "string" ? parseToken(token) : undefined;
    if (!parsed) return undefined;
    const row = (await this.query<TokenRow>("cannot check a token", `SELECT ${COLUMNS} FROM ${this.table} WHERE id = $1`, [parsed.id])).rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_sha256)) return undefined;
    const record = recordOf(row);
    if (record.revokedAt !== undefined) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= Date.now()) return undefined;
    return record;
  }

  async list(ledger?: string): Promise<TokenRecord[]> {
    const result =
      ledger === undefined
        ? await this.query<TokenRow>("cannot list tokens", `SELECT ${COLUMNS} FROM ${this.table} ORDER BY created_at, id`, [])
        : await this.query<TokenRow>("cannot list tokens", `SELECT ${COLUMNS} FROM ${this.table} WHERE ledger = $1 ORDER BY created_at, id`, [ledger]);
    return result.rows.map(recordOf);
  }

  async revoke(id: string): Promise<boolean> {
    if (typeof id !== "string" || !TOKEN_ID.test(id)) return false;
    const result = await this.query(`cannot revoke token ${id}`, `UPDATE ${this.table} SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, [id, new Date()]);
    return result.rowCount === 1;
  }

  async hasLedger(ledger: string): Promise<boolean> {
    if (this.knownLedgers.has(ledger)) return true;
    const found = (await this.query("cannot look up a ledger", `SELECT 1 FROM ${this.table} WHERE ledger = $1 LIMIT 1`, [ledger])).rowCount === 1;
    if (found) this.knownLedgers.add(ledger);
    return found;
  }

  /** The pool belongs to the backend, which closes it. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private async query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new HearthError("STORE_CLOSED", "the token store is closed");
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw pgFailure(what, err);
    }
  }
}

function recordOf(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    ledger: row.ledger,
    rights: row.rights,
    createdAt: row.created_at.getTime(),
    ...(row.expires_at !== null && { expiresAt: row.expires_at.getTime() }),
    ...(row.revoked_at !== null && { revokedAt: row.revoked_at.getTime() }),
  };
}
