/**
 * The check the server can make without a key: a value stored under
 * `bundle/<cid>`, `head/<cid>` or `file/<cid>` is named by the hash of its own bytes
 * (the sync engine's `contentName`: CIDv1, raw codec, SHA-256, base32), so
 * a body that does not hash to its name is corrupt or forged and is refused
 * before it is stored.
 *
 * Only a last segment that *is* a base32 CIDv1 (`ba[e-h]…`, which is how a
 * CIDv1's first byte encodes) is checked: the remote contract lets clients
 * store any valid name, and a non-CID name under `bundle/` is ignored by
 * every reader anyway. The CID is computed by the engine's own
 * `contentName`, so the two cannot disagree.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { contentName, contentNameOfDigest } from "@hearth/core";
import { WireFailure } from "./failure.js";

const CHECKED = /^(?:bundle|head|file)\/(ba[e-h][a-z2-7]*)$/;

/**
 * Throws unless `body` may be stored under `name`.
 * @throws WireFailure `INTEGRITY` when `name` ends in a CID that `body` does not hash to
 */
export async function checkIntegrity(name: string, body: Uint8Array): Promise<void> {
  await checkNamed(name, () => contentName(body));
}

/**
 * {@link checkIntegrity} for a body streamed through {@link hashedChunks}.
 * @throws WireFailure `INTEGRITY` when `name` ends in a CID that the body's digest does not give
 */
export async function checkDigest(name: string, sha256Digest: Uint8Array): Promise<void> {
  await checkNamed(name, () => contentNameOfDigest(sha256Digest));
}

/** Throws unless `name` is unchecked or ends in the CID `actual` computes (called only for checked names). */
async function checkNamed(name: string, actual: () => string | Promise<string>): Promise<void> {
  const cid = CHECKED.exec(name)?.[1];
  if (cid === undefined) return;
  const hashed = await actual();
  if (hashed !== cid) {
    throw new WireFailure("INTEGRITY", `the body of ${name} hashes to ${hashed}, not to the CID in its name; it was not stored`);
  }
}

/**
 * `chunks` passed through as they are, hashed (SHA-256) on the way, for
 * bodies streamed to the backend; `digest()` once they are all read.
 */
export function hashedChunks(chunks: AsyncIterable<Uint8Array>): { chunks: AsyncIterable<Uint8Array>; digest: () => Uint8Array } {
  const hash = createHash("sha256");
  let digest: Uint8Array | undefined;
  return {
    chunks: (async function* () {
      for await (const chunk of chunks) {
        hash.update(chunk);
        yield chunk;
      }
      digest = hash.digest();
    })(),
    digest: () => {
      if (!digest) throw new Error("hashedChunks: digest() before every chunk was read");
      return digest;
    },
  };
}
