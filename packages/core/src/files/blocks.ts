/**
 * The blocks a file is made of, and how each is sealed and checked.
 *
 * A file is cut into chunks of {@link CHUNK_BYTES} (the last one shorter).
 * Each chunk is encrypted on its own, with a key of its own, and named by
 * the SHA-256 CID (raw codec) of its *ciphertext*. A manifest lists the
 * chunks in order, each with its CID, its key and its length; it is
 * encrypted under a fresh random key and named the same way. The document
 * holds only the manifest's CID and key (`./meta.ts`).
 *
 * ```
 * chunk block    = AES-256-GCM(chunk key, IV 0, chunk, AAD "hearth/file-chunk/v1")
 * chunk key      = HMAC-SHA256(device file secret, SHA-256(chunk))
 * manifest block = AES-256-GCM(manifest key, IV 0, manifest, AAD "hearth/file-manifest/v1")
 * manifest       = dag-cbor { v: 1, size, c: [[chunk CID, chunk key, length]…] }
 * manifest key   = HMAC-SHA256(device file secret, SHA-256(manifest)), stored in the document's `_files` entry
 * ```
 *
 * Why this shape:
 * - **Names anyone can check, contents only members can read.** A block's
 *   name is the hash of the bytes stored, so the sync server (which holds
 *   no key) refuses a body that does not match its name, as it does for
 *   bundles, and every reader checks it again. Neither names nor bytes say
 *   anything about the plaintext to whoever lacks the keys.
 * - **Stored once.** Each key is derived from what it encrypts, keyed by a
 *   secret this device keeps in its ledger: the same bytes written twice
 *   here give the same keys, the same ciphertext and the same names (the
 *   same file CID), so a file written twice (or two files sharing chunks)
 *   take the room of one, here and at every sync point this device pushes
 *   to. Keying the
 *   derivation is what keeps it from being a plaintext hash the sync point
 *   could test guesses against (plain convergent encryption's weakness).
 *   Each key encrypts exactly one plaintext, so the fixed IV never meets a
 *   second message under the same key.
 * - **Bound to signed writes.** The manifest's CID and key travel inside
 *   the document, which travels inside a signed, sealed event; the
 *   manifest pins each chunk's CID, order and length. A block swapped,
 *   truncated or reordered anywhere fails its CID check (`INTEGRITY`).
 * - **The same bytes everywhere.** Blocks are sealed with keys carried by
 *   the document, not with a sync point's key, so the bytes a device
 *   stores locally are the bytes every sync point stores: nothing is
 *   re-encrypted on the way, and a device removed from a sync point never
 *   learns the keys of files written after (they ride in documents sealed
 *   with keys it no longer gets).
 *
 * 1 MiB chunks, by measurement (`npm run bench`, files section: 256 MiB
 * A → sync point → B, two runs each on a 2-core machine): 256 KiB chunks
 * ran 62–70 MB/s end to end over `file://` and 32–34 through `hearth
 * serve` (per-block costs dominate); 1 MiB ran 95–96 and 52–59; 4 MiB ran
 * 97–110 and 57–59, no faster through the server, with peak RSS up to
 * 210 MB against 146 MB (each transfer slot holds a chunk).
 *
 * Portable (WebCrypto for AES-GCM unless the platform passes a faster cipher).
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import * as raw from "multiformats/codecs/raw";
import { CID } from "multiformats/cid";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { blockDigest } from "../codec/block.js";
import type { AeadCipher } from "../crypto/cipher.js";
import { bufferSource } from "../crypto/encoding.js";
import { HearthError } from "../errors.js";
import type { DataKey, Fingerprint } from "../keyring/types.js";

/** Plaintext bytes per chunk (the last chunk of a file may be shorter). */
export const CHUNK_BYTES = 1024 * 1024;
/** Largest file: 64 GiB (a manifest of 65,536 chunks, ~5 MB, still one block any sync point takes). */
export const MAX_FILE_BYTES = 64 * 1024 ** 3;
/** Bytes of every block key. */
export const BLOCK_KEY_BYTES = 32;

/** Additional data of every chunk's AES-GCM (as text: a worker that seals chunks builds the same bytes). */
export const CHUNK_AAD_TEXT = "hearth/file-chunk/v1";
const CHUNK_AAD = new TextEncoder().encode(CHUNK_AAD_TEXT);
const MANIFEST_AAD = new TextEncoder().encode("hearth/file-manifest/v1");
const ZERO_IV = new Uint8Array(12);
const MANIFEST_VERSION = 1;

/** One chunk as the manifest lists it. */
export interface ChunkRef {
  /** CID of the sealed chunk (its name everywhere). */
  readonly cid: CID;
  /** Its key. */
  readonly key: Uint8Array;
  /** Plaintext bytes in it. */
  readonly length: number;
}

/** A file's manifest: its size and its chunks in order. */
export interface Manifest {
  readonly size: number;
  readonly chunks: readonly ChunkRef[];
}

/** A block sealed and named. */
export interface SealedBlock {
  readonly cid: CID;
  readonly bytes: Uint8Array;
}

/** The CID of stored block bytes (raw codec, SHA-256). */
export async function blockCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await blockDigest(bytes));
}

/** A chunk sealed: its block (named) and the key it was sealed with. */
export type SealedChunk = SealedBlock & { readonly key: Uint8Array };

/** Seals one chunk with its derived key (see the module docs). */
export async function sealChunk(cipher: AeadCipher, secret: Uint8Array, chunk: Uint8Array): Promise<SealedChunk> {
  const digest = await blockDigest(chunk);
  const key = hmac(sha256, secret, digest.digest);
  const bytes = await cipher.encrypt(await aesKey(key), ZERO_IV, chunk, CHUNK_AAD);
  return { cid: await blockCid(bytes), key, bytes };
}

/**
 * Checks a chunk block against its reference and decrypts it.
 * @throws HearthError `INTEGRITY` when the bytes are not the chunk the manifest names
 */
export async function openChunk(cipher: AeadCipher, ref: ChunkRef, bytes: Uint8Array, where: string): Promise<Uint8Array> {
  await checkCid(ref.cid, bytes, where);
  let plain: Uint8Array;
  try {
    plain = await cipher.decrypt(await aesKey(ref.key), ZERO_IV, bytes, CHUNK_AAD);
  } catch (cause) {
    throw new HearthError("INTEGRITY", `chunk ${ref.cid} of ${where} does not decrypt with the key its manifest gives; the file's manifest is forged`, { cause });
  }
  if (plain.length !== ref.length) {
    throw new HearthError("INTEGRITY", `chunk ${ref.cid} of ${where} holds ${plain.length} bytes where its manifest says ${ref.length}`);
  }
  return plain;
}

/** Seals a manifest under its derived key; returns the block and that key. */
export async function sealManifest(cipher: AeadCipher, secret: Uint8Array, manifest: Manifest): Promise<SealedBlock & { key: Uint8Array }> {
  const plain = dagCbor.encode({ v: MANIFEST_VERSION, size: manifest.size, c: manifest.chunks.map((c) => [c.cid, c.key, c.length]) });
  const key = hmac(sha256, secret, (await blockDigest(plain)).digest);
  const bytes = await cipher.encrypt(await aesKey(key), ZERO_IV, plain, MANIFEST_AAD);
  return { cid: await blockCid(bytes), key, bytes };
}

/**
 * Checks a manifest block against its CID, decrypts and decodes it.
 * @throws HearthError `INTEGRITY` for bytes that are not the manifest named, or a manifest that is malformed
 */
export async function openManifest(cipher: AeadCipher, cid: CID, key: Uint8Array, bytes: Uint8Array, where: string): Promise<Manifest> {
  await checkCid(cid, bytes, where);
  let value: unknown;
  try {
    value = dagCbor.decode(await cipher.decrypt(await aesKey(key), ZERO_IV, bytes, MANIFEST_AAD));
  } catch (cause) {
    throw new HearthError("INTEGRITY", `the manifest of ${where} does not decrypt with the key its document gives; the document is forged or damaged`, { cause });
  }
  const manifest = decodeManifest(value);
  if (!manifest) throw new HearthError("INTEGRITY", `the manifest of ${where} is malformed`);
  return manifest;
}

/**
 * Checks that `bytes` are the block `cid` names.
 * @throws HearthError `INTEGRITY` otherwise
 */
export async function checkBlock(cid: CID, bytes: Uint8Array, where: string): Promise<void> {
  await checkCid(cid, bytes, where);
}

async function checkCid(cid: CID, bytes: Uint8Array, where: string): Promise<void> {
  const actual = await blockCid(bytes);
  if (!actual.equals(cid)) {
    throw new HearthError("INTEGRITY", `block ${cid} of ${where} holds bytes that hash to ${actual}: it was damaged or swapped; fetch it again from another replica`);
  }
}

function decodeManifest(value: unknown): Manifest | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { v, size, c } = value as { v?: unknown; size?: unknown; c?: unknown };
  if (v !== MANIFEST_VERSION || !Number.isSafeInteger(size) || (size as number) < 0 || !Array.isArray(c)) return undefined;
  const chunks: ChunkRef[] = [];
  let total = 0;
  for (const item of c) {
    if (!Array.isArray(item) || item.length !== 3) return undefined;
    const [cid, key, length] = item as unknown[];
    const parsed = cid instanceof CID ? cid : undefined;
    if (!parsed || parsed.code !== raw.code || !(key instanceof Uint8Array) || key.length !== BLOCK_KEY_BYTES) return undefined;
    if (!Number.isSafeInteger(length) || (length as number) <= 0 || (length as number) > CHUNK_BYTES) return undefined;
    chunks.push({ cid: parsed, key, length: length as number });
    total += length as number;
  }
  return total === size ? { size: size as number, chunks } : undefined;
}

/** A one-use AES-GCM key as the ciphers take it (the fingerprint is unused for block keys). */
async function aesKey(raw: Uint8Array): Promise<DataKey> {
  const key = await globalThis.crypto.subtle.importKey("raw", bufferSource(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { fingerprint: "" as Fingerprint, key };
}
