/**
 * Deterministic, incompressible test content of any size, made a piece at a
 * time (AES-256-CTR keystream under a key from `seed`), so a child process
 * can write a 1 GiB file and the test can check it without either holding
 * it in memory.
 *
 * @module
 */
import { createCipheriv, createHash } from "node:crypto";

const PIECE = 1024 * 1024;

/** `size` bytes of the keystream of `seed`, in pieces of up to 1 MiB. */
export function* keystream(seed: number, size: number): Generator<Uint8Array> {
  const key = createHash("sha256").update(`hearth-test-keystream-${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(PIECE);
  for (let at = 0; at < size; at += PIECE) {
    const n = Math.min(PIECE, size - at);
    yield new Uint8Array(cipher.update(n === PIECE ? zeros : zeros.subarray(0, n)));
  }
}

/** SHA-256 (hex) of `keystream(seed, size)`. */
export function keystreamDigest(seed: number, size: number): string {
  const hash = createHash("sha256");
  for (const piece of keystream(seed, size)) hash.update(piece);
  return hash.digest("hex");
}
