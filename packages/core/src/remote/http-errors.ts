/**
 * How the HTTP remote turns what a sync server answers into Hearth's error
 * codes. The split that matters is *transient or not*: the sync engine
 * retries `STORAGE_FAILED` (unreachable, timeouts, 5xx, 408, 429) with
 * backoff and shows `offline`; everything else is a state someone must fix
 * (a token, a URL, a value), shown as `error` with a message that says how.
 *
 * | answer | code |
 * |---|---|
 * | 401 (no, unknown, expired or revoked token) | `UNAUTHORIZED` |
 * | 403 (read token writing, token of another ledger) | `UNAUTHORIZED` |
 * | 404 `UNKNOWN_LEDGER` | `UNAUTHORIZED`: a ledger exists on a server exactly when a token was created for it, so the fix is the same as for 401 — create a token for it |
 * | 404 without a wire error body (not a Hearth v1 server, wrong base path) | `INVALID_URL` |
 * | 400 `INTEGRITY` | `INTEGRITY` |
 * | 413 | `TOO_LARGE` (`QUOTA_EXCEEDED` when the wire code says so) |
 * | 400 other, other 4xx | `INVALID_ARGUMENT` |
 * | 408, 429, 5xx, network failure, timeout | `STORAGE_FAILED` |
 *
 * A 404 `NOT_FOUND` on a GET of an object is not an error (`get` resolves
 * `undefined`); callers check that before asking here.
 *
 * Browser-safe.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { WireError, WireErrorCode } from "./wire.js";

/** What was being done, for messages. */
export interface RequestContext {
  /** The remote's URL (no token). */
  readonly url: string;
  readonly ledger: string;
  /** e.g. `put bundle/abc`, `list "head/"`. */
  readonly what: string;
}

/** Reads a {@link WireError} body, if the response has one. */
export async function readWireError(response: Response): Promise<WireError["error"] | undefined> {
  try {
    const body = (await response.json()) as Partial<WireError> | null;
    const error = body?.error;
    if (error && typeof error.code === "string" && typeof error.message === "string") return error;
  } catch {
    // Not JSON: not a Hearth server, or a proxy's error page.
  }
  return undefined;
}

/** The error for a non-success `status` (with the server's wire error, if any). */
export function errorForStatus(status: number, wire: WireError["error"] | undefined, ctx: RequestContext): HearthError {
  const told = wire ? `: ${wire.message}` : "";
  const code: WireErrorCode | undefined = wire?.code as WireErrorCode | undefined;
  const tokenFix = `create a token with \`hearth token create --ledger ${ctx.ledger} --rights read-write\` on the server and attach with ${ctx.url}?token=<token>`;
  if (status === 401) {
    return new HearthError("UNAUTHORIZED", `sync server ${ctx.url} refused to ${ctx.what}: the token is missing, unknown, expired or revoked${told}. To fix it, ${tokenFix}`);
  }
  if (status === 403) {
    return new HearthError(
      "UNAUTHORIZED",
      `sync server ${ctx.url} refused to ${ctx.what}: the token does not grant it (a read-only token writing, or a token of another ledger)${told}. To fix it, ${tokenFix}`,
    );
  }
  if (status === 404 && code === "UNKNOWN_LEDGER") {
    return new HearthError("UNAUTHORIZED", `sync server ${ctx.url} has no ledger ${JSON.stringify(ctx.ledger)}, and the token given is for another one. A ledger exists once a token is created for it: ${tokenFix}`);
  }
  if (status === 404) {
    return new HearthError("INVALID_URL", `${ctx.url} did not answer as a Hearth v1 sync server (404 to ${ctx.what})${told}; check the host, port and base path`);
  }
  if (status === 413 && code === "QUOTA_EXCEEDED") {
    return new HearthError("QUOTA_EXCEEDED", `sync server ${ctx.url} refused to ${ctx.what}: the ledger is at its byte quota there${told}. Delete documents and files you no longer need and run compact() (it frees their blocks at the sync point once every writer has synced), or ask the server's operator for a larger quota`);
  }
  if (status === 413) {
    return new HearthError("TOO_LARGE", `sync server ${ctx.url} refused to ${ctx.what}: the value is larger than the server accepts${told}. Raise the server's limit (\`hearth serve --max-body\`, at least 9 MiB, so that the largest document fits)`);
  }
  if (status === 400 && code === "INTEGRITY") {
    return new HearthError("INTEGRITY", `sync server ${ctx.url} refused to ${ctx.what}: the bytes do not hash to the content address in their name${told}`);
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new HearthError("STORAGE_FAILED", `sync server ${ctx.url} failed to ${ctx.what} (HTTP ${status})${told}; it will be retried`);
  }
  if (status >= 400 && status < 500) {
    return new HearthError("INVALID_ARGUMENT", `sync server ${ctx.url} refused to ${ctx.what} (HTTP ${status})${told}`);
  }
  return new HearthError("STORAGE_FAILED", `sync server ${ctx.url} gave an unexpected answer to ${ctx.what} (HTTP ${status})${told}`);
}

/** The error for a request that never got an answer (network failure or our own deadline). */
export function errorForFailure(err: unknown, timedOut: boolean, timeoutMs: number, ctx: RequestContext): HearthError {
  if (timedOut) {
    return new HearthError("STORAGE_FAILED", `sync server ${ctx.url} did not answer to ${ctx.what} within ${timeoutMs} ms; it will be retried`, { cause: err });
  }
  const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new HearthError("STORAGE_FAILED", `cannot reach sync server ${ctx.url} to ${ctx.what} (${reason}); it will be retried`, { cause: err });
}
