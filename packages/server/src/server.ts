/**
 * The Hearth sync server: HTTP for objects, WebSocket for push, over any
 * {@link Backend}. The server itself is stateless — everything lives in
 * the backend — so with a shared backend (S3 + PostgreSQL) any number of
 * instances can serve the same ledgers.
 *
 * @module
 */
import { LedgerQuota } from "./http/quota.js";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { DEFAULT_MAX_BODY_BYTES } from "@hearth/core/wire";
import type { Backend } from "./backend/types.js";
import { cacheTokens } from "./http/token-cache.js";
import { WireFailure } from "./http/failure.js";
import { handleRequest } from "./http/handler.js";
import { UploadGate } from "./http/upload-gate.js";
import { assertStaticFiles, type StaticFiles } from "./http/static.js";
import { jsonLogger, type Logger } from "./log.js";
import { WatchHub } from "./watch.js";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** Where objects, tokens and notifications live; closed with the server. */
  readonly backend: Backend;
  /** Interface to listen on (default `127.0.0.1`: expose it deliberately). */
  readonly host?: string;
  /** Port (default 0: any free port; read it from `url`). */
  readonly port?: number;
  /** Largest body accepted (bytes, default `DEFAULT_MAX_BODY_BYTES`, 32 MiB). */
  readonly maxBodyBytes?: number;
  /**
   * Bytes of request bodies held at once, at most (default twice
   * `maxBodyBytes`, at least one body): uploads beyond it wait their turn,
   * so memory does not grow with the number of concurrent uploads.
   */
  readonly uploadBudgetBytes?: number;
  /**
   * Uploads over 4 KiB in flight per token, at most (default 4): one client
   * cannot take the whole budget. (Devices of one ledger often share a token.)
   */
  readonly uploadsPerToken?: number;
  /**
   * Optional: most bytes one ledger's objects may take here; a write past it
   * is refused with `QUOTA_EXCEEDED` (HTTP 413). Needs a backend that can
   * measure a ledger (`bytesOf`: the filesystem backend). Default: none.
   */
  readonly quotaBytes?: number;
  /** Where logs go (default: JSON lines on stdout). */
  readonly logger?: Logger;
  /** Keepalive ping interval of watch sockets (ms, default 30 000). */
  readonly pingMs?: number;
  /** How long a watch socket may take to say hello (ms, default 10 000). */
  readonly helloTimeoutMs?: number;
  /**
   * How long a verified token is trusted without asking the backend again
   * (ms, default 1000; 0 checks every request): a revocation takes effect
   * within this time. Watch sockets re-check at every ping regardless.
   */
  readonly tokenCacheMs?: number;
  /** How long `close` waits for in-flight requests before cutting them (ms, default 10 000). */
  readonly shutdownTimeoutMs?: number;
  /**
   * Static files to serve beside the API, e.g. `{ path: "/demo/", dir }`
   * for the demo page (`hearth serve --demo`): a page on the same origin
   * as its sync point needs no second server.
   */
  readonly staticFiles?: StaticFiles;
}

/** A running server. */
export interface HearthServer {
  /** `http://host:port` (clients attach to `<url>/<ledger>?token=…`). */
  readonly url: string;
  /**
   * Stops gracefully: no new connections; in-flight requests finish (up to
   * `shutdownTimeoutMs`); watch sockets close with 1001 so clients
   * reconnect; then the backend closes. Idempotent.
   */
  close(): Promise<void>;
}

/** The quota of `quotaBytes`, if any, over `backend`'s measure. */
function ledgerQuota(backend: Backend, quotaBytes: number | undefined): LedgerQuota | undefined {
  if (quotaBytes === undefined) return undefined;
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes <= 0) throw new TypeError("quotaBytes must be a positive whole number of bytes");
  const { objects } = backend;
  if (!objects.bytesOf) throw new TypeError("this backend cannot measure a ledger's bytes, so it cannot enforce quotaBytes; use the filesystem backend");
  return new LedgerQuota(quotaBytes, (ledger) => objects.bytesOf!(ledger));
}

/**
 * Starts a server and resolves once it listens.
 *
 * @throws the listen error (`EADDRINUSE`, `EACCES`, …) if it cannot listen
 * @example
 * ```ts
 * const server = await createServer({ backend: await openFsBackend("./data"), port: 8787 });
 * console.log(`listening on ${server.url}`);
 * process.once("SIGTERM", () => void server.close());
 * ```
 */
export async function createServer(options: ServerOptions): Promise<HearthServer> {
  const { backend, host = "127.0.0.1", port = 0, maxBodyBytes = DEFAULT_MAX_BODY_BYTES } = options;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) throw new TypeError("maxBodyBytes must be a non-negative integer");
  if (options.staticFiles) assertStaticFiles(options.staticFiles);
  const logger = options.logger ?? jsonLogger();
  const tokens = cacheTokens(backend.tokens, options.tokenCacheMs === undefined ? {} : { ttlMs: options.tokenCacheMs });
  const uploadBudgetBytes = options.uploadBudgetBytes ?? 2 * maxBodyBytes;
  const uploadsPerToken = options.uploadsPerToken ?? 4;
  if (!Number.isSafeInteger(uploadBudgetBytes) || uploadBudgetBytes < maxBodyBytes) {
    throw new TypeError("uploadBudgetBytes must be a whole number of bytes, at least maxBodyBytes (one body at the limit)");
  }
  if (!Number.isSafeInteger(uploadsPerToken) || uploadsPerToken < 1) throw new TypeError("uploadsPerToken must be a positive integer");
  const uploads = new UploadGate({ budgetBytes: uploadBudgetBytes, perToken: uploadsPerToken });
  const quota = ledgerQuota(backend, options.quotaBytes);
  const ctx = { backend, tokens, maxBodyBytes, uploads, logger, ...(quota && { quota }), ...(options.staticFiles && { staticFiles: options.staticFiles }) };
  const hub = new WatchHub(backend, logger, { pingMs: options.pingMs ?? 30_000, helloTimeoutMs: options.helloTimeoutMs ?? 10_000 });
  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;

  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    res.once("close", () => {
      inFlight.delete(res);
      // While shutting down, a keep-alive connection that just finished its request goes too.
      if (closing) http.closeIdleConnections();
    });
    if (closing) res.setHeader("connection", "close");
    void handleRequest(ctx, req, res);
  });
  http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (closing) return void socket.destroy();
    hub.upgrade(req, socket, head);
  });
  http.on("clientError", (err: Error, socket: Socket) => {
    // Requests Node's parser refuses (malformed headers, bad lengths) still get a wire error.
    const body = JSON.stringify(new WireFailure("BAD_REQUEST", `malformed HTTP request (${(err as { code?: string }).code ?? err.message})`).toWire());
    if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

  const shutdown = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeIdleConnections();
    hub.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        http.closeAllConnections();
        resolve();
      }, options.shutdownTimeoutMs ?? 10_000);
    });
    await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    await backend.close();
  };

  return {
    url,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
