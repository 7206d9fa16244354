/**
 * The PostgreSQL side of the S3 + PostgreSQL backend: its tables, created
 * on start in a schema of the operator's choosing (one database can host
 * several Hearth deployments, and each test file its own), and the one
 * way its failures become Hearth errors.
 *
 * @module
 */
import pg from "pg";
import { HearthError } from "@hearth/core";

/** Schema names: plain lowercase identifiers, short enough to name the notification channel too. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/** Default schema. */
export const DEFAULT_SCHEMA = "hearth";

/** Throws `INVALID_ARGUMENT` unless `schema` is a usable schema name; returns it quoted. */
export function quoteSchema(schema: string): string {
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw new HearthError("INVALID_ARGUMENT", `PostgreSQL schema ${JSON.stringify(schema)} is malformed: use 1–48 of a-z, 0-9 and _, not starting with a digit`);
  }
  return `"${schema}"`;
}

/**
 * Creates the schema and its tables if missing. Serialized by an advisory
 * lock: instances starting together would otherwise race inside
 * `CREATE TABLE IF NOT EXISTS` (it is not atomic against a concurrent
 * creator and can fail on a duplicate type).
 *
 * - `objects`: every name but `bundle/…` (announcements and wrapped keys:
 *   small, many, listed on every sync). `name` is `COLLATE "C"` so that the
 *   primary key's order is plain byte order: prefix listings are index
 *   range scans and come out in the order remotes promise.
 * - `tokens`: per-ledger tokens, the SHA-256 of the secret only.
 */
export async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  const s = quoteSchema(schema);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw pgFailure("cannot connect to PostgreSQL", err);
  }
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`hearth schema ${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${s}.objects (
        ledger text NOT NULL,
        name text COLLATE "C" NOT NULL,
        value bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ledger, name)
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${s}.tokens (
        id text PRIMARY KEY,
        ledger text NOT NULL,
        rights text NOT NULL CHECK (rights IN ('read', 'read-write')),
        secret_sha256 text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz
      )`);
    await client.query(`CREATE INDEX IF NOT EXISTS tokens_by_ledger ON ${s}.tokens (ledger, created_at)`);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw pgFailure(`cannot create the tables in PostgreSQL schema ${s}`, err);
  } finally {
    client.release();
  }
}

/** A PostgreSQL failure as `STORAGE_FAILED` (the server answers 503 and clients retry). */
export function pgFailure(what: string, err: unknown): HearthError {
  if (err instanceof HearthError) return err;
  const e = err as { code?: string; message?: string } | undefined;
  return new HearthError("STORAGE_FAILED", `${what}: PostgreSQL ${e?.code ? `${e.code}: ` : ""}${e?.message ?? String(err)}`, { cause: err });
}

/** `postgres://user:secret@host/db` without the password, for logs and `/healthz`. */
export function redactConnectionString(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "postgresql (connection string not shown)";
  }
}
