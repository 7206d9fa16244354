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
import { HearthError } from "../errors.js";
import { decodeDagCbor, encodeDagCbor } from "./cbor.js";

export { CID };

/** A decoded block together with its bytes and address. */
export interface Block<T = unknown> {
  readonly cid: CID;
  readonly bytes: Uint8Array;
  readonly value: T;
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
  const digest = sha256.digest(bytes);
  if (digest instanceof Promise) return digest.then((d) => ({ cid: CID.createV1(dagCbor.code, d), bytes, value }));
  return { cid: CID.createV1(dagCbor.code, digest), bytes, value };
}

/**
 * Decodes `bytes` that claim to be block `cid`.
 * @throws HearthError `INTEGRITY` if the bytes do not hash to `cid` or are not valid dag-cbor.
 */
export async function decodeBlock<T>(cid: CID, bytes: Uint8Array): Promise<Block<T>> {
  if (cid.code !== dagCbor.code || cid.multihash.code !== sha256.code) {
    throw new HearthError("INTEGRITY", `block ${cid} is not a dag-cbor/sha-256 block; it cannot be Hearth data`);
  }
  const digest = await sha256.digest(bytes);
  if (!equalBytes(digest.digest, cid.multihash.digest)) {
    throw new HearthError(
      "INTEGRITY",
      `block ${cid} does not match its content address: the stored bytes were altered or truncated; restore the store from a replica or backup`,
    );
  }
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
