/**
 * The flags that choose a backend, shared by every command that opens one
 * (`serve`, `token …`), so they cannot drift apart. A new backend adds its
 * flags here and its opening in `backend/open.ts`.
 *
 * @module
 */
import { DEFAULT_DATA_DIR, type BackendOptions } from "../backend/open.js";

/** parseArgs options of the backend flags. */
export const BACKEND_FLAGS = {
  data: { type: "string" },
  s3: { type: "string" },
  postgres: { type: "string" },
  schema: { type: "string" },
} as const;

/** Help text of the backend flags. */
export const BACKEND_HELP = `Storage (one of):
  --data <dir>        filesystem backend directory (default ${DEFAULT_DATA_DIR})
  --s3 <url> --postgres <url> [--schema <name>]
                      S3-compatible objects + PostgreSQL tokens and notifications,
                      in PostgreSQL schema <name> (default hearth: several deployments
                      can share one database)`;

/** The backend options of parsed flag values. */
export function backendOptions(values: { data?: string; s3?: string; postgres?: string; schema?: string }): BackendOptions {
  return {
    ...(values.data !== undefined && { data: values.data }),
    ...(values.s3 !== undefined && { s3: values.s3 }),
    ...(values.postgres !== undefined && { postgres: values.postgres }),
    ...(values.schema !== undefined && { schema: values.schema }),
  };
}
