/**
 * Where a file's chunks are sealed. Sealing a 1 MiB chunk is two SHA-256
 * passes and one AES-GCM pass (`./blocks.ts`): the heaviest work of
 * writing a file. In one thread it also starves everything else the write
 * needs from that thread (in Node, reading a file-backed `Blob` takes a
 * turn of the event loop per 64 KiB piece), so a platform with threads
 * passes a sealer that works on another one (`./chunk-sealer-node.ts`).
 * Every sealer gives the bytes {@link sealChunk} gives, so where a chunk
 * was sealed changes nothing stored.
 *
 * Portable.
 *
 * @module
 */
import type { AeadCipher } from "../crypto/cipher.js";
import { sealChunk, type SealedChunk } from "./blocks.js";

/** Seals chunks; see the module docs. */
export interface ChunkSealer {
  /**
   * Seals `chunk` with the key derived from it under `secret`. The chunk
   * is the sealer's from then on: it may be handed to another thread, and
   * the caller's array left empty (`ArrayBuffer` transfer).
   * @throws HearthError `STORAGE_FAILED` when the sealer itself fails
   */
  seal(secret: Uint8Array, chunk: Uint8Array): Promise<SealedChunk>;
}

/** A sealer that seals in this thread with `cipher`. */
export function inlineSealer(cipher: AeadCipher): ChunkSealer {
  return { seal: (secret, chunk) => sealChunk(cipher, secret, chunk) };
}
