/**
 * Who may do what: every request but `/healthz` (and every watch hello)
 * passes through {@link authorize}. The order of checks is what keeps the
 * server from leaking: a caller without a valid token learns only "401",
 * never whether a ledger exists; only a valid token's holder can tell an
 * unknown ledger (404) from one it may not touch (403).
 *
 * @module
 */
import type { Rights, TokenRecord } from "../backend/types.js";
import type { TokenCheck } from "./token-cache.js";
import { WireFailure } from "./failure.js";

/** What a request needs: reading (GET, list, watch) or writing (PUT, DELETE). */
export type Need = "read" | "write";

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/**
 * The record of `token` if it grants `need` on `ledger`.
 * @throws WireFailure `UNAUTHORIZED` (401: missing, unknown, expired, revoked),
 *   `UNKNOWN_LEDGER` (404: a valid token, and no token was ever created for `ledger`),
 *   `FORBIDDEN` (403: a token of another ledger, or a read token writing)
 */
export async function authorize(tokens: TokenCheck, token: string | undefined, ledger: string, need: Need): Promise<TokenRecord> {
  if (token === undefined || token === "") {
    throw new WireFailure("UNAUTHORIZED", "no token: send Authorization: Bearer <token> (create one with `hearth token create`)");
  }
  const record = await tokens.verify(token);
  if (!record) throw new WireFailure("UNAUTHORIZED", "the token is unknown, expired or revoked; create a new one with `hearth token create`");
  if (record.ledger !== ledger) {
    if (!(await tokens.hasLedger(ledger))) throw new WireFailure("UNKNOWN_LEDGER", `no ledger ${JSON.stringify(ledger)} on this server`);
    throw new WireFailure("FORBIDDEN", `the token is for another ledger, not ${JSON.stringify(ledger)}`);
  }
  if (need === "write" && !grantsWrite(record.rights)) {
    throw new WireFailure("FORBIDDEN", `the token only reads ledger ${JSON.stringify(ledger)}; writing needs a read-write token`);
  }
  return record;
}

function grantsWrite(rights: Rights): boolean {
  return rights === "read-write";
}
