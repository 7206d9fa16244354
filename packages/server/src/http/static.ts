/**
 * Static files under one path prefix (the demo page at `/demo/`, for
 * `hearth serve --demo`), served from the same origin as the sync API so a
 * page needs no other server. Deliberately small: a flat allowlist of
 * file types, names of plain `[A-Za-z0-9._-]` segments (no escapes, no
 * dot-files, no `..`), so a request can never reach outside the directory;
 * everything else is the wire's `NOT_FOUND`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { WireFailure } from "./failure.js";
import { pathOf } from "./route.js";

/** Files of `dir` served under `path` (which starts and ends with `/`, e.g. `/demo/`). */
export interface StaticFiles {
  readonly path: string;
  readonly dir: string;
}

const TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws `TypeError` unless `files.path` is a usable mount path. */
export function assertStaticFiles(files: StaticFiles): void {
  if (!/^\/([A-Za-z0-9_-][A-Za-z0-9._-]*\/)+$/.test(files.path) || files.path.startsWith("/v") || files.path === "/healthz/") {
    throw new TypeError(`static path must look like "/demo/" (plain segments, leading and trailing "/", not under the API), got ${JSON.stringify(files.path)}`);
  }
  if (typeof files.dir !== "string" || files.dir === "") throw new TypeError("static dir must be a directory path");
}

/**
 * Answers `req` from `files` if its path is under the mount; false
 * otherwise (the API routes take it). The mount without its trailing slash
 * redirects to it, so relative URLs in the page resolve.
 * @throws WireFailure `NOT_FOUND` for names outside the allowlist or missing files, `BAD_REQUEST` for methods other than GET and HEAD
 */
export async function serveStatic(files: StaticFiles, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const path = pathOf(req.url ?? "/");
  if (path === files.path.slice(0, -1)) {
    res.writeHead(308, { location: files.path, "content-length": 0 }).end();
    return true;
  }
  if (!path.startsWith(files.path)) return false;
  if (req.method !== "GET" && req.method !== "HEAD") throw new WireFailure("BAD_REQUEST", `use GET for ${path}`);
  const rest = path.slice(files.path.length) || "index.html";
  const segments = rest.split("/");
  const type = TYPES[rest.slice(rest.lastIndexOf(".") + 1)];
  if (!segments.every((s) => SEGMENT.test(s)) || !rest.includes(".") || type === undefined) {
    throw new WireFailure("NOT_FOUND", `no file ${JSON.stringify(path)}`);
  }
  let body: Buffer;
  try {
    body = await readFile(join(files.dir, ...segments));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") throw new WireFailure("NOT_FOUND", `no file ${JSON.stringify(path)}`);
    throw err;
  }
  res.writeHead(200, {
    "content-type": type,
    "content-length": body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    // The page talks to this origin only (HTTP and its WebSocket).
    "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'",
  });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
