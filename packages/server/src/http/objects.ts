/**
 * The object routes: put, get and delete one object, put several (batch),
 * and list names. Each handler authorizes first, then validates the body,
 * then touches the backend, so every refusal leaves the store as it was;
 * a change is published to watchers (on every instance, through the
 * backend's notifier) only after the backend acknowledged it, with the
 * value of a small put inlined so watchers need not fetch it.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { assertRemoteName, isHearthError } from "@hearth/core";
import { decodeBatch, WATCH_INLINE_MAX_BYTES } from "@hearth/core/wire";
import type { Backend, ObjectChange } from "../backend/types.js";
import type { Logger } from "../log.js";
import type { TokenCheck } from "./token-cache.js";
import { authorize, bearerToken } from "./auth.js";
import { bodyChunks, declaredLength, readBody } from "./body.js";
import { sendJson, WireFailure } from "./failure.js";
import { checkDigest, checkIntegrity, hashedChunks } from "./integrity.js";
import type { UploadGate } from "./upload-gate.js";
import type { LedgerQuota } from "./quota.js";

/** What the object routes need from the server. */
export interface ObjectContext {
  readonly backend: Backend;
  /** The backend's tokens behind a short cache of verified ones (see `token-cache.ts`). */
  readonly tokens: TokenCheck;
  readonly maxBodyBytes: number;
  /** Bounds the bodies in flight (see `upload-gate.ts`). */
  readonly uploads: UploadGate;
  /** The per-ledger byte quota, if the server has one (see `quota.ts`). */
  readonly quota?: LedgerQuota;
  readonly logger: Logger;
}

/**
 * Runs `fn` once `req`'s body fits the upload budget (its declared length,
 * or the limit when it streams), and gives the reservation back after.
 */
async function withUpload<T>(ctx: ObjectContext, req: IncomingMessage, token: string | undefined, fn: () => Promise<T>, reserveBytes?: number): Promise<T> {
  const declared = declaredLength(req, ctx.maxBodyBytes);
  // Small bodies (most of sync's traffic) hold next to nothing: they do not wait.
  if (reserveBytes === undefined && declared !== undefined && declared <= WATCH_INLINE_MAX_BYTES) return fn();
  const release = await ctx.uploads.enter(req, token ?? "", reserveBytes ?? declared ?? ctx.maxBodyBytes);
  try {
    return await fn();
  } finally {
    release();
  }
}

/** What a streamed body reserves of the upload budget: about what it holds at once. */
const STREAMED_RESERVE_BYTES = 256 * 1024;

/** `PUT | GET | DELETE /v1/ledgers/<ledger>/objects/<name>`. */
export async function handleObject(ctx: ObjectContext, req: IncomingMessage, res: ServerResponse, ledger: string, name: string): Promise<void> {
  const token = bearerToken(req.headers.authorization);
  switch (req.method) {
    case "PUT": {
      await authorize(ctx.tokens, token, ledger, "write");
      const declared = declaredLength(req, ctx.maxBodyBytes);
      const reservation = await ctx.quota?.reserve(ledger, declared ?? 0);
      try {
        // (Not inside `reservation?.stored(…)`: with no quota, optional chaining would skip the store itself.)
        const bytes = await storeObject(ctx, req, token, ledger, name, declared);
        reservation?.stored(bytes);
      } finally {
        reservation?.cancel(); // a no-op once stored
      }
      res.writeHead(204, { "cache-control": "no-store" }).end();
      return;
    }
    case "GET": {
      await authorize(ctx.tokens, token, ledger, "read");
      const bytes = await backendCall(() => ctx.backend.objects.get(ledger, name), name);
      if (bytes === undefined) throw new WireFailure("NOT_FOUND", `no object ${name}`);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.byteLength, "cache-control": "no-store" });
      res.end(bytes);
      return;
    }
    case "DELETE": {
      await authorize(ctx.tokens, token, ledger, "write");
      await backendCall(() => ctx.backend.objects.delete(ledger, name), name);
      ctx.quota?.deleted(ledger);
      await publish(ctx, ledger, [{ name, op: "delete" }]);
      res.writeHead(204, { "cache-control": "no-store" }).end();
      return;
    }
    default:
      throw new WireFailure("BAD_REQUEST", `method ${req.method ?? "?"} is not allowed on an object; use GET, PUT or DELETE`);
  }
}

/** Stores a PUT's body under `name`; returns its size. */
async function storeObject(ctx: ObjectContext, req: IncomingMessage, token: string | undefined, ledger: string, name: string, declared: number | undefined): Promise<number> {
  const { objects } = ctx.backend;
  if (objects.putStream && (declared === undefined || declared > WATCH_INLINE_MAX_BYTES)) {
    // Too big to tell watchers inline: streamed to the backend, hashed on the way. It
    // holds a chunk or so, but still counts against its token's uploads in flight.
    const putStream = objects.putStream.bind(objects);
    return withUpload(ctx, req, token, async () => {
      let bytes = 0;
      const counted = (async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          yield chunk;
        }
      })(bodyChunks(req, ctx.maxBodyBytes));
      const hashed = hashedChunks(counted);
      await backendCall(() => putStream(ledger, name, hashed.chunks, () => checkDigest(name, hashed.digest())), name);
      await publish(ctx, ledger, [{ name, op: "put" }]);
      return bytes;
    }, STREAMED_RESERVE_BYTES);
  }
  return withUpload(ctx, req, token, async () => {
    const body = await readBody(req, ctx.maxBodyBytes);
    await checkIntegrity(name, body);
    await backendCall(() => objects.put(ledger, name, body), name);
    await publish(ctx, ledger, [putChange(name, body)]);
    return body.length;
  });
}

/**
 * `POST /v1/ledgers/<ledger>/batch`: several puts in one request. Every
 * entry is checked (name, integrity) before any is stored, so a refused
 * batch changes nothing; then they are stored in order and watchers hear of
 * all of them in one notification.
 */
export async function handleBatch(ctx: ObjectContext, req: IncomingMessage, res: ServerResponse, ledger: string): Promise<void> {
  if (req.method !== "POST") throw new WireFailure("BAD_REQUEST", `method ${req.method ?? "?"} is not allowed on batch; use POST`);
  const token = bearerToken(req.headers.authorization);
  await authorize(ctx.tokens, token, ledger, "write");
  await withUpload(ctx, req, token, () => storeBatch(ctx, req, ledger));
  res.writeHead(204, { "cache-control": "no-store" }).end();
}

async function storeBatch(ctx: ObjectContext, req: IncomingMessage, ledger: string): Promise<void> {
  const body = await readBody(req, ctx.maxBodyBytes);
  let entries: [string, Uint8Array][];
  try {
    entries = decodeBatch(body);
  } catch (err) {
    throw new WireFailure("BAD_REQUEST", `malformed batch: ${(err as Error).message}`);
  }
  for (const [name, bytes] of entries) {
    try {
      assertRemoteName(name);
    } catch (err) {
      throw new WireFailure("INVALID_NAME", (err as Error).message);
    }
    await checkIntegrity(name, bytes);
  }
  const total = entries.reduce((n, [, bytes]) => n + bytes.length, 0);
  const reservation = await ctx.quota?.reserve(ledger, total);
  try {
    await storeEntries(ctx, ledger, entries);
    reservation?.stored(total);
  } finally {
    reservation?.cancel();
  }
}

/** Stores a checked batch's entries, in order, and tells watchers. */
async function storeEntries(ctx: ObjectContext, ledger: string, entries: [string, Uint8Array][]): Promise<void> {
  const { objects } = ctx.backend;
  if (objects.putAll) {
    try {
      await backendCall(() => objects.putAll!(ledger, entries), entries.map(([n]) => n).join(", "));
    } catch (err) {
      // Some prefix may be stored: watchers re-list rather than miss it.
      await publish(ctx, ledger, undefined);
      throw err;
    }
    await publish(ctx, ledger, entries.map(([name, bytes]) => putChange(name, bytes)));
  } else {
    const stored: ObjectChange[] = [];
    try {
      for (const entry of entries) {
        await backendCall(() => objects.put(ledger, entry[0], entry[1]), entry[0]);
        stored.push(putChange(entry[0], entry[1]));
      }
    } finally {
      // What was stored is told, even if a later entry failed.
      if (stored.length > 0) await publish(ctx, ledger, stored);
    }
  }
}

/** `GET /v1/ledgers/<ledger>/list?prefix=<p>`. */
export async function handleList(ctx: ObjectContext, req: IncomingMessage, res: ServerResponse, ledger: string, prefix: string): Promise<void> {
  if (req.method !== "GET") throw new WireFailure("BAD_REQUEST", `method ${req.method ?? "?"} is not allowed on list; use GET`);
  await authorize(ctx.tokens, bearerToken(req.headers.authorization), ledger, "read");
  const names = await backendCall(() => ctx.backend.objects.list(ledger, prefix), prefix);
  sendJson(res, 200, { names });
}

/**
 * Runs a backend call. A name the backend cannot hold (the filesystem
 * cannot keep both `a` and `a/b`) is the client's to fix; anything else is
 * the backend failing, which the client retries (and the log explains).
 */
async function backendCall<T>(call: () => Promise<T>, name: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isHearthError(err, "INVALID_ARGUMENT")) {
      throw new WireFailure("BAD_REQUEST", `${JSON.stringify(name)} cannot be stored here: one name cannot also begin another ("a" and "a/b"); rename one of them`);
    }
    throw err;
  }
}

/** The change a put makes, its value inlined for watchers when small. */
function putChange(name: string, bytes: Uint8Array): ObjectChange {
  return bytes.length <= WATCH_INLINE_MAX_BYTES ? { name, op: "put", bytes } : { name, op: "put" };
}

/**
 * Tells watchers. The change is already durable; if the notifier fails,
 * watchers still find it on their next reconnect or safety poll, so the
 * request succeeds and the failure is logged.
 */
async function publish(ctx: ObjectContext, ledger: string, changes: readonly ObjectChange[] | undefined): Promise<void> {
  try {
    await ctx.backend.notifier.publish(ledger, changes);
  } catch (err) {
    ctx.logger({ level: "warn", msg: "notify failed", ledger, names: changes?.map((c) => c.name) ?? "all", error: String(err) });
  }
}
