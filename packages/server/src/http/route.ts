/**
 * Which route a request path names, validated before anything else runs.
 * Object and ledger names are checked against the same rules every remote
 * enforces, on the raw path as the client sent it: no percent-escapes (no
 * valid name needs one, so `%2e%2e` and `%2F` are refused rather than
 * decoded), no empty, `.` or `..` segments, no backslashes. A path that
 * passes names exactly one object of one ledger, and can never reach outside
 * it in any backend.
 *
 * @module
 */
import { assertRemoteName, assertRemotePrefix } from "@hearth/core";
import { LEDGER_NAME, WIRE_VERSION } from "@hearth/core/wire";
import { WireFailure } from "./failure.js";

/** A parsed request target. */
export type Route =
  | { readonly kind: "health" }
  | { readonly kind: "object"; readonly ledger: string; readonly name: string }
  | { readonly kind: "list"; readonly ledger: string; readonly prefix: string }
  | { readonly kind: "batch"; readonly ledger: string }
  | { readonly kind: "watch"; readonly ledger: string };

/** The path of a request target, without its query (what logs show). */
export function pathOf(target: string): string {
  const q = target.indexOf("?");
  return q < 0 ? target : target.slice(0, q);
}

/**
 * Parses a request target (`req.url`).
 * @throws WireFailure `INVALID_NAME` for malformed names and path tricks, `NOT_FOUND` for unknown routes
 */
export function parseRoute(target: string): Route {
  const path = pathOf(target);
  const query = target.slice(path.length + 1);
  if (!path.startsWith("/") || /[%\\]/.test(path)) {
    throw new WireFailure("INVALID_NAME", `path ${JSON.stringify(path)} is malformed: names are plain [A-Za-z0-9._-] segments and need no escapes`);
  }
  const segments = path.slice(1).split("/");
  if (path !== "/" && segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new WireFailure("INVALID_NAME", `path ${JSON.stringify(path)} has an empty, "." or ".." segment`);
  }
  if (path === "/healthz") return { kind: "health" };
  const [version, ledgers, ledger, kind, ...rest] = segments;
  if (version !== `v${WIRE_VERSION}` || ledgers !== "ledgers" || ledger === undefined || kind === undefined) {
    throw new WireFailure("NOT_FOUND", `no route ${JSON.stringify(path)}; this server speaks /v${WIRE_VERSION}/ledgers/<ledger>/{objects/<name>,batch,list,watch}`);
  }
  if (!LEDGER_NAME.test(ledger)) {
    throw new WireFailure("INVALID_NAME", `ledger name ${JSON.stringify(ledger)} is malformed: use 1–128 of A-Z a-z 0-9 . _ -, not starting with "."`);
  }
  if (kind === "objects") {
    const name = rest.join("/");
    try {
      assertRemoteName(name);
    } catch (err) {
      throw new WireFailure("INVALID_NAME", (err as Error).message);
    }
    return { kind: "object", ledger, name };
  }
  if (rest.length === 0 && kind === "list") return { kind: "list", ledger, prefix: prefixOf(query) };
  if (rest.length === 0 && kind === "watch") return { kind: "watch", ledger };
  if (rest.length === 0 && kind === "batch") return { kind: "batch", ledger };
  throw new WireFailure("NOT_FOUND", `no route ${JSON.stringify(path)}`);
}

/** The `prefix` query parameter (default `""`), validated like every listing prefix. */
function prefixOf(query: string): string {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    throw new WireFailure("BAD_REQUEST", "the query string is malformed");
  }
  const prefix = params.get("prefix") ?? "";
  try {
    assertRemotePrefix(prefix);
  } catch (err) {
    throw new WireFailure("INVALID_NAME", (err as Error).message);
  }
  return prefix;
}
