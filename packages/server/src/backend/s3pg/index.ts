/**
 * The scale-out backend: bundles in S3 (or any S3-compatible store),
 * announcements, keys and tokens in PostgreSQL, and change notification
 * over PostgreSQL LISTEN/NOTIFY — so any number of stateless server
 * instances behind a load balancer serve the same ledgers.
 *
 * ```
 * s3://bucket/<prefix>/<ledger>/bundle/<cid>   bundles
 * <schema>.objects (ledger, name, value)        head/…, key/… and any other name
 * <schema>.tokens                               tokens (SHA-256 of the secret only)
 * channel "hearth_<schema>"                     change notifications
 * ```
 *
 * @module
 */
import { HearthError } from "@hearth/core";
import { createS3Client, parseS3Url, type S3ClientOptions } from "@hearth/s3";
import pg from "pg";
import type { Backend } from "../types.js";
import { PgNotifier } from "./notifier.js";
import { S3PgObjects } from "./objects.js";
import { createSchema, DEFAULT_SCHEMA, quoteSchema, redactConnectionString } from "./schema.js";
import { PgTokens } from "./tokens.js";

/** Options of {@link openS3PgBackend}. */
export interface S3PgBackendOptions {
  /** `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=…` (the prefix holds one directory per ledger). */
  readonly s3: string;
  /** `postgres://user@host:5432/db` (libpq-style connection string). */
  readonly postgres: string;
  /** Schema for the tables and the notification channel (default `hearth`); created if missing. */
  readonly schema?: string;
  /** S3 credentials and region; default: the standard AWS chain (env, profile, role). */
  readonly s3Client?: S3ClientOptions;
  /** Most PostgreSQL connections this instance opens for queries (default 10), plus one for listening. */
  readonly maxConnections?: number;
  /** Told about recoverable trouble (a lost notification connection), for the server log. */
  readonly onError?: (message: string, err: unknown) => void;
}

/**
 * Opens the backend: connects to PostgreSQL, creates the schema and its
 * tables if missing, and starts listening for notifications. S3 is not
 * contacted until the first bundle is stored or read.
 *
 * @throws HearthError `INVALID_URL` for a malformed S3 URL, `INVALID_ARGUMENT`
 *   for a malformed schema name, `STORAGE_FAILED` if PostgreSQL cannot be
 *   reached or the tables cannot be created
 * @example
 * ```ts
 * const backend = await openS3PgBackend({
 *   s3: "s3://hearth-bundles/prod?region=eu-west-1",
 *   postgres: "postgres://hearth@db.internal:5432/hearth",
 * });
 * const server = await createServer({ backend, host: "0.0.0.0", port: 8787 });
 * ```
 */
export async function openS3PgBackend(options: S3PgBackendOptions): Promise<Backend> {
  const location = parseS3Url(options.s3);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  quoteSchema(schema);
  if (typeof options.postgres !== "string" || options.postgres === "") throw new HearthError("INVALID_ARGUMENT", "the S3 + PostgreSQL backend needs a PostgreSQL connection string (--postgres postgres://…)");
  const pool = new pg.Pool({ connectionString: options.postgres, max: options.maxConnections ?? 10, application_name: "hearth", connectionTimeoutMillis: 10_000 });
  // An idle connection that breaks is dropped by the pool; without a
  // listener, its error would crash the process.
  pool.on("error", (err) => options.onError?.("an idle PostgreSQL connection failed", err));
  const s3 = createS3Client(location, options.s3Client);
  let notifier: PgNotifier | undefined;
  try {
    await createSchema(pool, schema);
    const objects = new S3PgObjects({ pool, schema, s3, bucket: location.bucket, prefix: location.prefix });
    const tokens = new PgTokens(pool, schema);
    notifier = await PgNotifier.open({
      connectionString: options.postgres,
      pool,
      channel: `hearth_${schema}`,
      ...(options.onError && { onError: options.onError }),
    });
    const opened = notifier;
    let closing: Promise<void> | undefined;
    return {
      objects,
      tokens,
      notifier: opened,
      description: `s3+postgres s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ""}${location.endpoint ? ` at ${location.endpoint}` : ""}, ${redactConnectionString(options.postgres)} schema ${schema}`,
      close() {
        closing ??= (async () => {
          await Promise.all([objects.close(), tokens.close(), opened.close()]);
          s3.destroy();
          await pool.end();
        })();
        return closing;
      },
    };
  } catch (err) {
    await notifier?.close();
    s3.destroy();
    await pool.end().catch(() => undefined);
    throw err;
  }
}
