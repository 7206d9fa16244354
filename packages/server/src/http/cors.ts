/**
 * Cross-origin access, so a web app served from anywhere (a dev server, a
 * static host) can sync through this server from the browser. Every
 * request is authorized by a bearer token, never by cookies, so allowing
 * any origin grants nothing a page could not do with a token it already
 * holds; preflights are answered without a token (browsers never send one
 * on them).
 *
 * @module
 */
import { MAX_BODY_HEADER } from "@hearth/core/wire";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Adds the CORS headers every answer carries. */
export function allowCrossOrigin(res: ServerResponse): void {
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-expose-headers", MAX_BODY_HEADER);
}

/** Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`); false if `req` is none. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "OPTIONS" || req.headers["access-control-request-method"] === undefined) return false;
  res.writeHead(204, {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, PUT, POST, DELETE",
    "access-control-allow-headers": "authorization, content-type",
    "access-control-max-age": "600",
  });
  res.end();
  return true;
}
