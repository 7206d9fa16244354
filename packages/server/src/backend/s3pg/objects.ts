/**
 * Objects of the S3 + PostgreSQL backend, split by what they are:
 *
 * - `bundle/<cid>` and `file/<cid>` (bundles and file blocks) — large,
 *   immutable, written once and read a few times: S3, key
 *   `<prefix>/<ledger>/bundle/<cid>` or `…/file/<cid>`.
 * - everything else (`head/<cid>`, `key/…`) — small, many, listed on every
 *   sync and deleted as announcements are superseded: a PostgreSQL table,
 *   where a prefix listing is one index range scan instead of S3's paged,
 *   slower and (on some stores) eventually consistent listing.
 *
 * A listing whose prefix could match both (`""`, `"b"`, `"bundle"`, `"f"`)
 * merges the two.
 *
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { HearthError, assertRemoteName, assertRemotePrefix } from "@hearth/core";
import { LEDGER_NAME } from "@hearth/core/wire";
import { S3Objects } from "@hearth/s3";
import type pg from "pg";
import type { ObjectBackend } from "../types.js";
import { pgFailure, quoteSchema } from "./schema.js";

/** Names kept in S3; everything else is in the table. */
const IN_S3 = ["bundle/", "file/"];
const inS3 = (name: string): boolean => IN_S3.some((p) => name.startsWith(p));

/** Where the objects live. */
export interface S3PgObjectsOptions {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly s3: S3Client;
  readonly bucket: string;
  /** Key prefix of the deployment in the bucket (no leading or trailing `/`; may be `""`). */
  readonly prefix: string;
}

/** See the module docs. */
export class S3PgObjects implements ObjectBackend {
  private readonly table: string;
  private readonly ledgers = new Map<string, S3Objects>();
  private closed = false;

  constructor(private readonly options: S3PgObjectsOptions) {
    this.table = `${quoteSchema(options.schema)}.objects`;
  }

  async put(ledger: string, name: string, bytes: Uint8Array): Promise<void> {
    this.check(ledger, name);
    if (inS3(name)) return this.bundles(ledger).put(name, bytes);
    await this.query(
      `cannot store ${name} of ledger ${ledger}`,
      `INSERT INTO ${this.table} (ledger, name, value) VALUES ($1, $2, $3)
       ON CONFLICT (ledger, name) DO UPDATE SET value = EXCLUDED.value, created_at = now()`,
      [ledger, name, Buffer.from(bytes)], // a copy: the query may wait for a connection while the caller reuses its array
    );
  }

  /**
   * Stores `entries` in order: each run of bundles goes to S3 one after the
   * other, each run of other names into the table in one statement (all of
   * a run visible at once, never before the entries before it). A push's
   * batch, its last bundle then its announcement, costs one S3 put and one
   * INSERT.
   */
  async putAll(ledger: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    for (const [name] of entries) this.check(ledger, name);
    let run: Array<readonly [string, Uint8Array]> = [];
    const flush = async (): Promise<void> => {
      if (run.length === 0) return;
      // One row per name (a later entry replaces an earlier one, as it would one put at a time).
      const rows = [...new Map(run.map(([name, bytes]) => [name, bytes])).entries()];
      run = [];
      const values: unknown[] = [ledger];
      const tuples = rows.map(([name, bytes], i) => {
        values.push(name, Buffer.from(bytes));
        return `($1, $${2 * i + 2}, $${2 * i + 3})`;
      });
      await this.query(
        `cannot store ${rows.map(([n]) => n).join(", ")} of ledger ${ledger}`,
        `INSERT INTO ${this.table} (ledger, name, value) VALUES ${tuples.join(", ")}
         ON CONFLICT (ledger, name) DO UPDATE SET value = EXCLUDED.value, created_at = now()`,
        values,
      );
    };
    for (const entry of entries) {
      if (inS3(entry[0])) {
        await flush();
        await this.bundles(ledger).put(entry[0], entry[1]);
      } else {
        run.push(entry);
      }
    }
    await flush();
  }

  async get(ledger: string, name: string): Promise<Uint8Array | undefined> {
    this.check(ledger, name);
    if (inS3(name)) return this.bundles(ledger).get(name);
    const result = await this.query<{ value: Buffer }>(`cannot read ${name} of ledger ${ledger}`, `SELECT value FROM ${this.table} WHERE ledger = $1 AND name = $2`, [ledger, name]);
    const value = result.rows[0]?.value;
    return value === undefined ? undefined : new Uint8Array(value); // a copy, not a view of pg's buffer
  }

  async list(ledger: string, prefix: string): Promise<string[]> {
    this.checkLedger(ledger);
    assertRemotePrefix(prefix);
    if (inS3(prefix)) return this.bundles(ledger).list(prefix);
    const fromTable = this.listTable(ledger, prefix);
    if (!IN_S3.some((p) => p.startsWith(prefix))) return fromTable;
    const [table, bundles] = await Promise.all([fromTable, this.bundles(ledger).list(prefix)]);
    return [...table, ...bundles].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(ledger: string, name: string): Promise<void> {
    this.check(ledger, name);
    if (inS3(name)) return this.bundles(ledger).delete(name);
    await this.query(`cannot delete ${name} of ledger ${ledger}`, `DELETE FROM ${this.table} WHERE ledger = $1 AND name = $2`, [ledger, name]);
  }

  /** The pool and the S3 client belong to the backend, which closes them. */
  async close(): Promise<void> {
    this.closed = true;
    this.ledgers.clear();
  }

  /**
   * Names of `ledger` in the table starting with `prefix`: a range
   * `[prefix, prefix with its last character incremented)` in byte order,
   * not `LIKE`, so `_` and `%` in a prefix are plain characters and the
   * primary key serves the scan.
   */
  async listTable(ledger: string, prefix: string): Promise<string[]> {
    const what = `cannot list ${JSON.stringify(prefix)} of ledger ${ledger}`;
    if (prefix === "") {
      return (await this.query<{ name: string }>(what, `SELECT name FROM ${this.table} WHERE ledger = $1 ORDER BY name`, [ledger])).rows.map((r) => r.name);
    }
    const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const result = await this.query<{ name: string }>(
      what,
      `SELECT name FROM ${this.table} WHERE ledger = $1 AND name >= $2::text COLLATE "C" AND name < $3::text COLLATE "C" ORDER BY name`,
      [ledger, prefix, upper],
    );
    return result.rows.map((r) => r.name);
  }

  private bundles(ledger: string): S3Objects {
    let objects = this.ledgers.get(ledger);
    if (!objects) {
      const { s3: client, bucket, prefix } = this.options;
      objects = new S3Objects({ client, bucket, prefix: prefix ? `${prefix}/${ledger}` : ledger });
      this.ledgers.set(ledger, objects);
    }
    return objects;
  }

  private async query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.options.pool.query<R>(text, values);
    } catch (err) {
      throw pgFailure(what, err);
    }
  }

  private check(ledger: string, name: string): void {
    this.checkLedger(ledger);
    assertRemoteName(name);
  }

  private checkLedger(ledger: string): void {
    if (this.closed) throw new HearthError("STORE_CLOSED", "the S3 + PostgreSQL backend is closed");
    if (typeof ledger !== "string" || !LEDGER_NAME.test(ledger)) throw new HearthError("INVALID_ARGUMENT", `ledger name ${JSON.stringify(ledger)} is malformed`);
  }
}
