/**
 * Where this page's ledger lives and how it reaches its sync point: the
 * ledger name and token from the URL fragment, and the attach outcomes the
 * app shows in words (a refused token is not "attaching…" forever).
 *
 * @module
 */
import { isHearthError, type Attachment, type Ledger } from "@hearth/core";

/** What the URL fragment says: `#token=…&ledger=…&code=…` (a code: an invitation to join with). */
export function readFragment(): { token: string | undefined; ledger: string; code: string | undefined } {
  const params = new URLSearchParams(location.hash.slice(1));
  return { token: params.get("token") ?? undefined, ledger: params.get("ledger") ?? "demo", code: params.get("code") ?? undefined };
}

/** Takes a used share code out of the fragment (a reload must not try it again). */
export function dropCode(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has("code")) return;
  params.delete("code");
  history.replaceState(null, "", `#${params}`);
}

/**
 * A link that opens this page on another device and joins with `code`:
 * the token and the code ride in the fragment, which the browser never
 * sends to a server (the QR code of an invitation holds this link).
 */
export function inviteLink(code: string): string {
  const params = new URLSearchParams(location.hash.slice(1));
  params.set("code", code);
  return `${location.origin}${location.pathname}#${params}`;
}

/** Puts `token` in the fragment (replacing the page's history entry). */
export function writeToken(token: string): void {
  const params = new URLSearchParams(location.hash.slice(1));
  params.set("token", token);
  history.replaceState(null, "", `#${params}`);
}

/** The sync point of `ledger` on the server that served this page. */
export function pointUrl(ledger: string, token: string): string {
  return `${location.origin}/${encodeURIComponent(ledger)}?token=${encodeURIComponent(token)}`;
}

/** How attaching ended. */
export type AttachOutcome =
  | { readonly kind: "attached"; readonly attachment: Attachment }
  /** This device is not a member yet: it needs a share code. */
  | { readonly kind: "not-a-member" }
  /** The server refused the token (wrong, expired or revoked). */
  | { readonly kind: "token-refused"; readonly message: string }
  /** The code was used already, expired or mistyped. */
  | { readonly kind: "code-refused" };

/** Attaches `db` to `url` (with a share code when joining) and says how it went. */
export async function attachTo(db: Ledger, url: string, shareCode?: string): Promise<AttachOutcome> {
  try {
    return { kind: "attached", attachment: await db.attach(url, shareCode === undefined ? {} : { shareCode }) };
  } catch (err) {
    if (isHearthError(err, "KEY_REQUIRED")) return shareCode === undefined ? { kind: "not-a-member" } : { kind: "code-refused" };
    if (isHearthError(err, "UNAUTHORIZED")) return { kind: "token-refused", message: err.message };
    throw err;
  }
}
