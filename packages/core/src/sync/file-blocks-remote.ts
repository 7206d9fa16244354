/**
 * File blocks at a remote: `file/<cid>`, or, for a block larger than the
 * remote takes in one object (its `maxObjectBytes`), parts that fit:
 *
 * ```
 * file/<cid>.p000000, file/<cid>.p000001, …   the block's bytes, in order
 * file/<cid>.parts                            how many parts (decimal text), put last
 * ```
 *
 * Suffixes, not sub-names: the file remote keeps each `/` segment as a
 * directory, so `file/<cid>` could not also begin `file/<cid>/…`.
 *
 * The count goes last, so a reader that finds it finds every part; the
 * joined parts are checked against the CID like a whole block. A block is
 * split only where it must be (the sync server's default limit takes any
 * block whole): a server run with a small `--max-body` still takes files.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import type { Remote } from "../remote/types.js";
import { concatBytes } from "../crypto/encoding.js";

/** Name prefix of file blocks at a remote. */
export const FILE_PREFIX = "file/";

const PARTS = "parts";

/** The name of block `cid` stored whole. */
export function blockName(cid: CID | string): string {
  return FILE_PREFIX + cid.toString();
}

function partName(cid: CID, index: number): string {
  return `${FILE_PREFIX}${cid}.p${String(index).padStart(6, "0")}`;
}

/** Stores block `cid`, whole if the remote takes it, else in parts. */
export async function putBlock(remote: Remote, cid: CID, bytes: Uint8Array): Promise<void> {
  const max = remote.maxObjectBytes;
  if (max === undefined || bytes.length <= max) return remote.put(blockName(cid), bytes);
  const count = Math.ceil(bytes.length / max);
  for (let i = 0; i < count; i++) await remote.put(partName(cid, i), bytes.subarray(i * max, (i + 1) * max));
  await remote.put(`${blockName(cid)}.${PARTS}`, new TextEncoder().encode(String(count)));
}

/** Largest block there is: a manifest of the largest file (chunks are 1 MiB and 16 bytes). */
const LARGEST_BLOCK_BYTES = 8 * 1024 * 1024;

/**
 * Block `cid`'s bytes as the remote holds them (unchecked), whole or joined
 * from its parts; `undefined` if it has neither (or not all parts yet).
 * Parts are looked for only where the remote takes less than the block
 * (`bytes`, when the caller knows its size) in one object: a sync point
 * that takes any block whole costs one request per block, found or not.
 */
export async function getBlock(remote: Remote, cid: CID, bytes = LARGEST_BLOCK_BYTES): Promise<Uint8Array | undefined> {
  const whole = await remote.get(blockName(cid));
  if (whole !== undefined) return whole;
  const max = remote.maxObjectBytes;
  if (max === undefined || max >= bytes) return undefined;
  const counted = await remote.get(`${blockName(cid)}.${PARTS}`);
  if (counted === undefined) return undefined;
  const count = Number(new TextDecoder().decode(counted));
  // A count that is no count is what a hostile point would store: the joined bytes then fail the CID check.
  if (!Number.isSafeInteger(count) || count < 1 || count > 1 << 20) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = await remote.get(partName(cid, i));
    if (part === undefined) return new Uint8Array(0);
    parts.push(part);
  }
  return concatBytes(...parts);
}

/** Deletes block `cid` at the remote: whole, and any parts. */
export async function deleteBlock(remote: Remote, cid: CID | string): Promise<void> {
  await remote.delete(blockName(cid));
  for (const name of await remote.list(`${blockName(cid)}.`)) await remote.delete(name);
}

/** The block CID (text) a name under `file/` is of: whole, a part or the count. */
export function blockOfName(name: string): string {
  const rest = name.slice(FILE_PREFIX.length);
  const dot = rest.indexOf(".");
  return dot < 0 ? rest : rest.slice(0, dot);
}

/** The CIDs (text) of the blocks a listing of `file/` shows complete: stored whole, or with their part count. */
export function listedBlocks(names: readonly string[]): Set<string> {
  const blocks = new Set<string>();
  for (const name of names) {
    const rest = name.slice(FILE_PREFIX.length);
    const dot = rest.indexOf(".");
    if (dot < 0) blocks.add(rest);
    else if (rest.slice(dot + 1) === PARTS) blocks.add(rest.slice(0, dot));
  }
  return blocks;
}
