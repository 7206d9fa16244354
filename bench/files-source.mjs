// The files section's input: one file of incompressible bytes (an AES-CTR
// keystream, the same for a given size on every run) written to the bench
// directory, and its SHA-256, which every receiver's copy is checked against.
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";

const PIECE = 1024 * 1024;

/**
 * Writes `bytes` bytes of keystream to `file`.
 * @returns {Promise<{ path: string, bytes: number, sha256: string }>}
 */
export async function writeSourceFile(file, bytes) {
  const cipher = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const hash = createHash("sha256");
  const out = createWriteStream(file);
  const zeros = Buffer.alloc(PIECE);
  for (let at = 0; at < bytes; at += PIECE) {
    const piece = cipher.update(zeros.subarray(0, Math.min(PIECE, bytes - at)));
    hash.update(piece);
    if (!out.write(piece)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { path: file, bytes, sha256: hash.digest("hex") };
}

/** SHA-256 (hex) and size of everything an async iterable of byte arrays yields. */
export async function digestOf(pieces) {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const piece of pieces) {
    hash.update(piece);
    bytes += piece.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** SHA-256 (hex) and size of a file on disk. */
export function digestOfFile(file) {
  return digestOf(createReadStream(file, { highWaterMark: PIECE }));
}
