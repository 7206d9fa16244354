/**
 * The one way request handling fails: a {@link WireFailure} carries a wire
 * error code, and {@link sendFailure} turns it into the status of
 * `ERROR_STATUS` and the JSON body `WireError`, so every refusal looks the
 * same to clients.
 *
 * @module
 */
import type { ServerResponse } from "node:http";
import { ERROR_STATUS, type WireError, type WireErrorCode } from "@hearth/core/wire";

/** A refusal with a wire code and a message meant for the client. */
export class WireFailure extends Error {
  readonly code: WireErrorCode;

  constructor(code: WireErrorCode, message: string) {
    super(message);
    this.name = "WireFailure";
    this.code = code;
  }

  /** The HTTP status for this failure. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** The JSON body for this failure. */
  toWire(): WireError {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Answers `res` with `failure`; `close` asks the client to drop the connection (an unread body remains). */
export function sendFailure(res: ServerResponse, failure: WireFailure, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, failure.status, failure.toWire(), close ? { connection: "close" } : {});
}

/** Answers `res` with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}
