/**
 * The sync server's wire protocol, version 1: shared by the HTTP remote
 * (client, here in core so browsers have it) and the server
 * (`@hearth/server`), so the two cannot drift apart.
 *
 * HTTP, per ledger `L` (ledger names: {@link LEDGER_NAME}):
 *
 * | request | success | body |
 * |---|---|---|
 * | `PUT  /v1/ledgers/L/objects/<name>` | 204 | the bytes (`application/octet-stream`) |
 * | `GET  /v1/ledgers/L/objects/<name>` | 200 bytes, 404 if absent | |
 * | `DELETE /v1/ledgers/L/objects/<name>` | 204 (also if absent) | |
 * | `GET  /v1/ledgers/L/list?prefix=<p>` | 200 `{ "names": [...] }` ascending | |
 * | `GET  /v1/ledgers/L/watch` (WebSocket upgrade) | see {@link WatchClientMessage} | |
 * | `GET  /healthz` | 200 `{ "ok": true }` (no auth) | |
 *
 * `<name>` is the remote name (`bundle/<cid>`, `head/<cid>`, `key/…`) with
 * its `/` kept as path separators; every segment is validated by the
 * remote name rules. Every request but `/healthz` carries
 * `Authorization: Bearer <token>`; a WebSocket (browsers cannot set
 * headers on one) sends the token in its first message instead.
 *
 * The server checks that a `bundle/<cid>` or `head/<cid>` body hashes to
 * its CID (it needs no key for that), refuses bodies over its limit, and
 * answers every failure with a status from {@link ERROR_STATUS} and a JSON
 * body {@link WireError}.
 *
 * @module
 */

/** Protocol version (path prefix `/v1`). */
export const WIRE_VERSION = 1;

/** Ledger names on a server: 1–128 of `[A-Za-z0-9._-]`, not starting with `.`. */
export const LEDGER_NAME = /^(?!\.)[A-Za-z0-9._-]{1,128}$/;

/** Path of an object of ledger `ledger`. The name's segments are already URL-safe. */
export function objectPath(ledger: string, name: string): string {
  return `/v${WIRE_VERSION}/ledgers/${ledger}/objects/${name}`;
}

/** Path of the listing endpoint (add `?prefix=`). */
export function listPath(ledger: string): string {
  return `/v${WIRE_VERSION}/ledgers/${ledger}/list`;
}

/** Path of the WebSocket watch endpoint. */
export function watchPath(ledger: string): string {
  return `/v${WIRE_VERSION}/ledgers/${ledger}/watch`;
}

/** Machine-readable error codes in {@link WireError}. */
export type WireErrorCode =
  | "UNAUTHORIZED" // 401: no token, unknown token, expired or revoked token
  | "FORBIDDEN" // 403: token for another ledger, or a read token writing
  | "UNKNOWN_LEDGER" // 404: no such ledger on this server
  | "NOT_FOUND" // 404: no such object (GET only) or route
  | "INVALID_NAME" // 400: malformed ledger or object name, path tricks
  | "INTEGRITY" // 400: body does not hash to the CID in its name
  | "TOO_LARGE" // 413: body over the server's limit
  | "BAD_REQUEST" // 400: anything else malformed
  | "INTERNAL"; // 500/503: the backend failed; retry later

/** The HTTP status of each {@link WireErrorCode}. */
export const ERROR_STATUS: Readonly<Record<WireErrorCode, number>> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  UNKNOWN_LEDGER: 404,
  NOT_FOUND: 404,
  INVALID_NAME: 400,
  INTEGRITY: 400,
  TOO_LARGE: 413,
  BAD_REQUEST: 400,
  INTERNAL: 503,
};

/** The JSON body of every error response. */
export interface WireError {
  readonly error: { readonly code: WireErrorCode; readonly message: string };
}

/** What a watch client sends: first `hello` (auth + what to watch), nothing else. */
export type WatchClientMessage = { readonly v: 1; readonly type: "hello"; readonly token: string; readonly prefix: string };

/**
 * One change in a watch `change` message: `name` was put or deleted. A put
 * of at most {@link WATCH_INLINE_MAX_BYTES} carries its value (base64url),
 * so a watcher needs no request to read a new announcement.
 */
export interface WireChange {
  readonly name: string;
  readonly op: "put" | "delete";
  /** The value put, base64url without padding; absent for deletes and larger values. */
  readonly value?: string;
}

/** Largest value a server inlines in a watch `change` message (bytes before base64url). */
export const WATCH_INLINE_MAX_BYTES = 4_096;

/**
 * What the server sends on a watch socket: `ready` once the hello is
 * accepted (changes after it are never missed), `change` after any put or
 * delete of a name under the prefix (by any client of any server instance),
 * `error` before closing on a refused hello.
 *
 * A `change` with `changes` lists exactly what changed (each name in
 * `names` once per change). One without `changes` (after the server lost
 * track, e.g. its notification connection dropped) says only "these and
 * possibly other names changed": the client lists again.
 */
export type WatchServerMessage =
  | { readonly v: 1; readonly type: "ready" }
  | { readonly v: 1; readonly type: "change"; readonly names: readonly string[]; readonly changes?: readonly WireChange[] }
  | { readonly v: 1; readonly type: "error"; readonly error: WireError["error"] };

/** Default largest body a server accepts (bytes); `hearth serve --max-body` changes it. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
