/**
 * `@hearth/server`: the Hearth sync server — HTTP + WebSocket over a
 * {@link Backend} (a directory, or S3 + PostgreSQL) — usable as a library
 * as well as through `hearth serve`.
 *
 * @example
 * ```ts
 * import { createServer, openFsBackend } from "@hearth/server";
 * const backend = await openFsBackend("./hearth-data");
 * const { token } = await backend.tokens.create({ ledger: "todos", rights: "read-write" });
 * const server = await createServer({ backend, port: 8787 });
 * // clients: db.attach(`${server.url}/todos?token=${token}`)
 * ```
 *
 * @module
 */
export { createServer, type HearthServer, type ServerOptions } from "./server.js";
export type { StaticFiles } from "./http/static.js";
export { openFsBackend, type FsBackendOptions } from "./backend/fs/index.js";
export { openBackend, DEFAULT_DATA_DIR, type BackendOptions } from "./backend/open.js";
export { LocalNotifier } from "./backend/notifier-local.js";
export { mintToken, parseToken, hashSecret, secretMatches, assertTokenOptions, TOKEN_ID, type MintedToken } from "./backend/token-secret.js";
export { jsonLogger, silentLogger, type Logger, type LogEntry } from "./log.js";
export type * from "./backend/types.js";
