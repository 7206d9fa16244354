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
 * The whole body of `req`, at most `maxBytes`.
 * @throws WireFailure `TOO_LARGE` past the limit, `BAD_REQUEST` for a malformed length or a client that went away
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared)) throw new WireFailure("BAD_REQUEST", "Content-Length is malformed");
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > maxBytes) {
        cleanup();
        req.pause(); // read no further; the response closes the connection
        chunks.length = 0;
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const body = Buffer.concat(chunks, length);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    };
    const onError = (): void => {
      cleanup();
      reject(new WireFailure("BAD_REQUEST", "the request body was cut off"));
    };
    const onAborted = onError;
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

function tooLarge(maxBytes: number): WireFailure {
  return new WireFailure("TOO_LARGE", `the body is larger than this server's limit of ${maxBytes} bytes`);
}
