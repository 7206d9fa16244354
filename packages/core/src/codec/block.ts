/**
 * Content-addressed blocks: dag-cbor bytes named by a CIDv1 over SHA-256.
 * Decoding always re-hashes and refuses bytes that do not match their CID,
 * so no caller can be handed a block that is not what it asked for.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { create as createDigest, type Digest } from "multiformats/hashes/digest";
import { HearthError } from "../errors.js";
import { decodeDagCbor, encodeDagCbor } from "./cbor.js";

export { CID };

/** A decoded block together with its bytes and address. */
export interface Block<T = unknown> {
  readonly cid: CID;
  readonly bytes: Uint8Array;
  readonly value: T;
}

/** A synchronous native SHA-256, when the platform installed one ({@link useNativeSha256}). */
let nativeSha256: ((bytes: Uint8Array) => Uint8Array) | undefined;

/**
 * Installs a synchronous native SHA-256 for block addresses. multiformats'
 * Node hasher builds a `Hash` object and copies per call, a visible share
 * of a small `put` (one event block each); Node's one-shot `crypto.hash`
 * gives the same digest for a fraction of that. The Node platform installs
 * it; elsewhere blocks use multiformats' sha256 (WebCrypto in browsers).
 */
export function useNativeSha256(hash: (bytes: Uint8Array) => Uint8Array): void {
  nativeSha256 = hash;
}

/** The SHA-256 multihash digest of `bytes`; synchronous where the platform hashes synchronously. */
export function blockDigest(bytes: Uint8Array): Digest<typeof sha256.code, number> | Promise<Digest<typeof sha256.code, number>> {
  return nativeSha256 ? createDigest(sha256.code, nativeSha256(bytes)) : sha256.digest(bytes);
}

/** Encodes `value` as dag-cbor and addresses it. */
export async function encodeBlock<T>(value: T): Promise<Block<T>> {
  return encodeBlockNow(value);
}

/**
 * {@link encodeBlock} without a promise where the platform hashes
 * synchronously (Node): folding a tree encodes thousands of nodes, and a
 * promise and a microtask turn per node cost more than the hashing.
 */
export function encodeBlockNow<T>(value: T): Block<T> | Promise<Block<T>> {
  const bytes = encodeDagCbor(value);
  const digest = blockDigest(bytes);
  if (digest instanceof Promise) return digest.then((d) => ({ cid: CID.createV1(dagCbor.code, d), bytes, value }));
  return { cid: CID.createV1(dagCbor.code, digest), bytes, value };
}

/**
 * Checks that `bytes` are block `cid` (a dag-cbor/sha-256 block hashing to it), without decoding them.
 * @throws HearthError `INTEGRITY` if they are not.
 */
export async function verifyBlockBytes(cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.code !== dagCbor.code || cid.multihash.code !== sha256.code) {
    throw new HearthError("INTEGRITY", `block ${cid} is not a dag-cbor/sha-256 block; it cannot be Hearth data`);
  }
  const digest = await blockDigest(bytes);
  if (!equalBytes(digest.digest, cid.multihash.digest)) {
    throw new HearthError(
      "INTEGRITY",
      `block ${cid} does not match its content address: the stored bytes were altered or truncated; restore the store from a replica or backup`,
    );
  }
}

/**
 * Decodes `bytes` that claim to be block `cid`.
 * @throws HearthError `INTEGRITY` if the bytes do not hash to `cid` or are not valid dag-cbor.
 */
export async function decodeBlock<T>(cid: CID, bytes: Uint8Array): Promise<Block<T>> {
  await verifyBlockBytes(cid, bytes);
  let value: T;
  try {
    value = decodeDagCbor<T>(bytes);
  } catch (cause) {
    throw new HearthError("INTEGRITY", `block ${cid} is not valid dag-cbor`, { cause });
  }
  return { cid, bytes, value };
}

/** Parses a CID string, throwing `INVALID_ARGUMENT` with context on failure. */
export function parseCID(text: string, what = "CID"): CID {
  try {
    return CID.parse(text);
  } catch (cause) {
    throw new HearthError("INVALID_ARGUMENT", `${what} ${JSON.stringify(text)} is not a CID`, { cause });
  }
}

/** Constant-length byte comparison helper. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lexicographic byte order. */
export function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
