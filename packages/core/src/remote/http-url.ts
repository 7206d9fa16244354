/**
 * Parsing of sync server URLs (`http(s)://host:port[/base]/<ledger>[?token=…]`),
 * in one place. The token is a credential, not part of the sync point's
 * identity: it is taken out of the URL so that `remote.url` (which names the
 * sync point in messages and keys its bookkeeping) is the same whichever
 * token a replica holds, and never shows up in logs or errors.
 *
 * Browser-safe.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { LEDGER_NAME } from "./wire.js";

/** A parsed sync server URL. */
export interface HttpLocation {
  /** `http(s)://host:port[/base]/<ledger>`: no token, no query, no trailing slash. */
  readonly url: string;
  /** Where `/v1/…` paths start: origin plus any base path (no trailing slash). */
  readonly base: string;
  /** The ledger name (validated by {@link LEDGER_NAME}). */
  readonly ledger: string;
  /** The token from `?token=`, if the URL carried one. */
  readonly token?: string;
}

/** Characters a bearer token may hold: printable ASCII without spaces (RFC 6750 is stricter; servers mint `htk_…`). */
const TOKEN = /^[\x21-\x7e]{1,1024}$/;

/** True for URLs this module handles (`http:` and `https:`), so platforms can route them here. */
export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/**
 * Parses `url`. The last path segment is the ledger; anything before it is
 * a base path (a server behind a reverse proxy at `/hearth/`).
 *
 * @throws HearthError `INVALID_URL` naming the accepted form
 */
export function parseHttpUrl(url: string): HttpLocation {
  if (typeof url !== "string") throw new TypeError("sync server URL must be a string");
  const form = `use "http://host:port/<ledger>?token=<token>" (a ledger name is 1–128 of A-Z a-z 0-9 . _ -, not starting with ".")`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HearthError("INVALID_URL", `sync server URL ${JSON.stringify(redact(url))} cannot be parsed; ${form}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new HearthError("INVALID_URL", `${JSON.stringify(redact(url))} is not a sync server URL; ${form}`);
  }
  if (parsed.username || parsed.password) {
    throw new HearthError("INVALID_URL", `sync server URL ${JSON.stringify(redact(url))} carries a user name or password; pass the token as ?token=<token> instead`);
  }
  let token: string | undefined;
  for (const [key, value] of parsed.searchParams) {
    if (key !== "token") {
      throw new HearthError("INVALID_URL", `sync server URL ${JSON.stringify(redact(url))} has an unknown parameter ${JSON.stringify(key)}; only ?token= is understood`);
    }
    token = value;
  }
  if (token !== undefined) assertToken(token);
  const path = parsed.pathname.replace(/\/+$/, "");
  const cut = path.lastIndexOf("/");
  const ledger = path.slice(cut + 1);
  if (!LEDGER_NAME.test(ledger)) {
    throw new HearthError("INVALID_URL", `sync server URL ${JSON.stringify(redact(url))} names no valid ledger (${JSON.stringify(ledger)}); ${form}`);
  }
  const base = parsed.origin + path.slice(0, cut);
  return { url: `${base}/${ledger}`, base, ledger, ...(token !== undefined && { token }) };
}

/** Throws `INVALID_ARGUMENT` unless `token` can travel in an `Authorization` header. */
export function assertToken(token: unknown): asserts token is string {
  if (typeof token !== "string" || !TOKEN.test(token)) {
    throw new HearthError("INVALID_ARGUMENT", "sync server token must be 1–1024 printable ASCII characters without spaces (as printed by `hearth token create`)");
  }
}

/** `url` with any `token` parameter's value hidden, for messages. */
export function redact(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, "$1…");
}
