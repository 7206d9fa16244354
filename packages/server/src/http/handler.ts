/**
 * The request handler: answers CORS preflights, routes a request, runs its
 * handler, turns every failure into a wire error, and logs one line for it. Unexpected errors
 * (the backend failing) become `INTERNAL` (503, retried by clients) with
 * the details in the log, not in the answer.
 *
 * @module
 */
import { MAX_BODY_HEADER } from "@hearth/core/wire";
import type { IncomingMessage, ServerResponse } from "node:http";
import { allowCrossOrigin, answerPreflight } from "./cors.js";
import { sendFailure, sendJson, WireFailure } from "./failure.js";
import { handleBatch, handleList, handleObject, type ObjectContext } from "./objects.js";
import { parseRoute, pathOf } from "./route.js";
import { serveStatic, type StaticFiles } from "./static.js";

/** What the handler needs: the object routes' context plus any static files. */
export interface HandlerContext extends ObjectContext {
  readonly staticFiles?: StaticFiles;
}

/** Handles one HTTP request (WebSocket upgrades go elsewhere). */
export async function handleRequest(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const target = req.url ?? "/";
  let failure: WireFailure | undefined;
  res.once("close", () => {
    ctx.logger({
      level: res.statusCode >= 500 ? "error" : "info",
      msg: "request",
      method: req.method,
      path: pathOf(target),
      status: res.statusCode,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...(failure && { code: failure.code }),
      ...(!res.writableFinished && { aborted: true }),
    });
  });
  allowCrossOrigin(res);
  res.setHeader(MAX_BODY_HEADER, String(ctx.maxBodyBytes));
  try {
    if (answerPreflight(req, res)) return;
    if (ctx.staticFiles && (await serveStatic(ctx.staticFiles, req, res))) return;
    const route = parseRoute(target);
    switch (route.kind) {
      case "health":
        if (req.method !== "GET") throw new WireFailure("BAD_REQUEST", "use GET /healthz");
        sendJson(res, 200, { ok: true, backend: ctx.backend.description });
        return;
      case "object":
        await handleObject(ctx, req, res, route.ledger, route.name);
        return;
      case "list":
        await handleList(ctx, req, res, route.ledger, route.prefix);
        return;
      case "batch":
        await handleBatch(ctx, req, res, route.ledger);
        return;
      case "watch":
        throw new WireFailure("BAD_REQUEST", "the watch endpoint takes a WebSocket upgrade");
    }
  } catch (err) {
    failure = err instanceof WireFailure ? err : internal(ctx, req, target, err);
    // A body left unread (refused before or while reading it) is not drained: the connection closes instead.
    sendFailure(res, failure, !req.complete);
  }
}

function internal(ctx: ObjectContext, req: IncomingMessage, target: string, err: unknown): WireFailure {
  ctx.logger({ level: "error", msg: "backend failure", method: req.method, path: pathOf(target), error: err instanceof Error ? err.message : String(err) });
  return new WireFailure("INTERNAL", "the server's storage failed; retry later");
}
