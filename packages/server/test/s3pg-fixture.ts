/**
 * What the S3 + PostgreSQL backend tests share: s3rver (in a child
 * process, see `packages/s3/test/helpers/s3rver.ts`) with a bucket, and a
 * PostgreSQL schema of their own on this machine's server (127.0.0.1:5432,
 * user postgres, database test; `HEARTH_TEST_POSTGRES` overrides), dropped
 * afterwards.
 *
 * @module
 */
import pg from "pg";
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from "../../s3/test/helpers/s3rver.js";
import { openS3PgBackend, type S3PgBackendOptions } from "../src/backend/s3pg/index.js";
import type { Backend } from "../src/backend/types.js";

export const POSTGRES = process.env.HEARTH_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
export const BUCKET = "hearth-server";

/** A running s3rver, a fresh schema, and every backend opened on them. */
export interface S3PgFixture {
  readonly s3: TestS3;
  readonly schema: string;
  /** A backend instance ("a server instance") on the shared S3 bucket and schema. */
  open(extra?: Partial<S3PgBackendOptions>): Promise<Backend>;
  /** Options an instance is opened with. */
  options(): S3PgBackendOptions;
  /** Runs SQL as the test (to inspect tables or cut connections). */
  sql<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Closes every backend, drops the schema, stops s3rver. */
  cleanup(): Promise<void>;
}

/** Starts the fixture; `label` goes into the schema name. */
export async function startS3Pg(label: string): Promise<S3PgFixture> {
  const s3 = await startS3([BUCKET]);
  const schema = `t_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 48);
  const admin = new pg.Pool({ connectionString: POSTGRES, max: 2 });
  const backends: Backend[] = [];
  const options = (): S3PgBackendOptions => ({
    s3: s3.url(BUCKET, `deploy-${schema}`),
    postgres: POSTGRES,
    schema,
    s3Client: { credentials: S3RVER_CREDENTIALS },
  });
  return {
    s3,
    schema,
    options,
    async open(extra = {}) {
      const backend = await openS3PgBackend({ ...options(), ...extra });
      backends.push(backend);
      return backend;
    },
    async sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
      return (await admin.query<R>(text, values)).rows;
    },
    async cleanup() {
      for (const b of backends) await b.close().catch(() => undefined);
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await admin.end();
      await s3.stop();
    },
  };
}
