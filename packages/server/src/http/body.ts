/**
 * Reading request bodies within the server's limit. A body that declares a
 * length over the limit is refused before a byte is read; one that streams
 * past it is refused as soon as it does, so no request can make the server
 * buffer more than the limit.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import { WireFailure } from "./failure.js";

/**
 * The body length `req` declares, if any.
 * @throws WireFailure `TOO_LARGE` over `maxBytes`, `BAD_REQUEST` for a malformed length
 */
export function declaredLength(req: IncomingMessage, maxBytes: number): number | undefined {
  const declared = req.headers["content-length"];
  if (declared === undefined) return undefined;
  if (!/^\d+$/.test(declared)) throw new WireFailure("BAD_REQUEST", "Content-Length is malformed");
  if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
  return Number(declared);
}

/**
 * The whole body of `req`, at most `maxBytes`. A body of declared length
 * is read into one buffer of that length (no second copy to join chunks).
 * @throws WireFailure as {@link bodyChunks}
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = declaredLength(req, maxBytes);
  const whole = declared === undefined ? undefined : Buffer.allocUnsafe(declared);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of bodyChunks(req, maxBytes)) {
    if (whole) whole.set(chunk, length);
    else chunks.push(chunk);
    length += chunk.length;
  }
  const body = whole ?? Buffer.concat(chunks, length);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The body of `req` as it arrives, within `maxBytes` and its declared
 * length: for bodies streamed to the backend rather than read whole.
 * @throws WireFailure `TOO_LARGE` past the limit, `BAD_REQUEST` for a body
 *   longer or shorter than it declared, or a client that went away
 */
export async function* bodyChunks(req: IncomingMessage, maxBytes: number): AsyncGenerator<Uint8Array> {
  const declared = declaredLength(req, maxBytes);
  let length = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > (declared ?? maxBytes)) {
        req.pause(); // read no further; the response closes the connection
        throw declared === undefined ? tooLarge(maxBytes) : new WireFailure("BAD_REQUEST", "the body is longer than its Content-Length");
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof WireFailure) throw err;
    throw new WireFailure("BAD_REQUEST", "the request body was cut off");
  }
  if (declared !== undefined && length !== declared) throw new WireFailure("BAD_REQUEST", "the request body was cut off");
}

function tooLarge(maxBytes: number): WireFailure {
  return new WireFailure("TOO_LARGE", `the body is larger than this server's limit of ${maxBytes} bytes`);
}
