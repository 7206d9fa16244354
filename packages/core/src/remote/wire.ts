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
 * | `POST /v1/ledgers/L/batch` | 204 | several puts, stored in order ({@link encodeBatch}) |
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

/** Path of the batch endpoint: several puts in one request. */
export function batchPath(ledger: string): string {
  return `/v${WIRE_VERSION}/ledgers/${ledger}/batch`;
}

/** Most entries in one batch. */
export const MAX_BATCH_ENTRIES = 64;

/**
 * The body of a batch: for each entry, the name's length (2 bytes, big
 * endian), the name (ASCII), the value's length (4 bytes, big endian), the
 * value. Names must be valid remote names (checked by the caller).
 */
export function encodeBatch(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array<ArrayBuffer> {
  const names = entries.map(([name]) => new TextEncoder().encode(name));
  const size = entries.reduce((n, [, bytes], i) => n + 6 + names[i]!.length + bytes.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  entries.forEach(([, bytes], i) => {
    view.setUint16(at, names[i]!.length);
    out.set(names[i]!, at + 2);
    at += 2 + names[i]!.length;
    view.setUint32(at, bytes.length);
    out.set(bytes, at + 4);
    at += 4 + bytes.length;
  });
  return out;
}

/**
 * The entries of a batch body made by {@link encodeBatch} (values are views
 * into `body`). Names are not validated here.
 * @throws TypeError if the body is truncated, has trailing bytes, or more than {@link MAX_BATCH_ENTRIES} entries
 */
export function decodeBatch(body: Uint8Array): [string, Uint8Array][] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const entries: [string, Uint8Array][] = [];
  let at = 0;
  while (at < body.length) {
    if (entries.length === MAX_BATCH_ENTRIES) throw new TypeError(`a batch holds at most ${MAX_BATCH_ENTRIES} entries`);
    if (at + 2 > body.length) throw new TypeError("batch truncated in a name length");
    const nameLength = view.getUint16(at);
    if (at + 2 + nameLength + 4 > body.length) throw new TypeError("batch truncated in a name");
    const name = new TextDecoder().decode(body.subarray(at + 2, at + 2 + nameLength));
    at += 2 + nameLength;
    const length = view.getUint32(at);
    if (at + 4 + length > body.length) throw new TypeError(`batch truncated in the value of ${JSON.stringify(name)}`);
    entries.push([name, body.subarray(at + 4, at + 4 + length)]);
    at += 4 + length;
  }
  return entries;
}

/** Path of the listing endpoint (add `?prefix=`). */
export function listPath(ledger: string): string {
  return `/v${WIRE_VERSION}/ledgers/${ledger}/list`;
}

/**
 * Response header in which the server says the largest body it accepts
 * (its `--max-body`), so clients can split what would not fit and refuse
 * up front what cannot be split.
 */
export const MAX_BODY_HEADER = "x-hearth-max-body";

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
  | "QUOTA_EXCEEDED" // 413: the ledger's bytes would go over its quota
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
  QUOTA_EXCEEDED: 413,
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
