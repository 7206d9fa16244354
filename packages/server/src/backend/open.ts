/**
 * Picks the backend from command-line style options: the one place that
 * knows every backend, so `hearth serve` and `hearth token` work on
 * whichever the operator chose. Add a backend here.
 *
 * @module
 */
import { HearthError } from "@hearth/core";
import { openFsBackend } from "./fs/index.js";
import { openS3PgBackend } from "./s3pg/index.js";
import type { Backend } from "./types.js";

/** Which backend to open. */
export interface BackendOptions {
  /** Data directory of the filesystem backend (default `./hearth-data`). */
  readonly data?: string;
  /** `s3://bucket/prefix?endpoint=…` for objects (with `postgres`): the S3 + PostgreSQL backend. */
  readonly s3?: string;
  /** `postgres://…` for tokens and notifications (with `s3`). */
  readonly postgres?: string;
  /** PostgreSQL schema of the S3 + PostgreSQL backend (default `hearth`). */
  readonly schema?: string;
  /** Filesystem backend: fsync every write (default true). */
  readonly fsync?: boolean;
}

/** The default data directory of the filesystem backend. */
export const DEFAULT_DATA_DIR = "./hearth-data";

/**
 * Opens the backend `options` describe.
 * @throws HearthError `INVALID_ARGUMENT` for contradictory or incomplete options; whatever the chosen backend's opening throws
 */
export async function openBackend(options: BackendOptions): Promise<Backend> {
  if (options.s3 !== undefined || options.postgres !== undefined) {
    if (options.data !== undefined) throw new HearthError("INVALID_ARGUMENT", "use either --data (filesystem) or --s3 with --postgres, not both");
    if (options.s3 === undefined || options.postgres === undefined) {
      throw new HearthError("INVALID_ARGUMENT", "the S3 + PostgreSQL backend needs both --s3 s3://bucket/prefix and --postgres postgres://…");
    }
    return openS3PgBackend({ s3: options.s3, postgres: options.postgres, ...(options.schema !== undefined && { schema: options.schema }) });
  }
  if (options.schema !== undefined) throw new HearthError("INVALID_ARGUMENT", "--schema names a PostgreSQL schema: it goes with --s3 and --postgres");
  return openFsBackend(options.data ?? DEFAULT_DATA_DIR, { ...(options.fsync !== undefined && { fsync: options.fsync }) });
}
