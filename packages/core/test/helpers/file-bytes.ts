/**
 * Bytes for file tests: deterministic content, and checks that compare
 * megabytes in one assertion (vitest's deep equality walks them element by
 * element).
 *
 * @module
 */
import { expect } from "vitest";
import type { DocFile } from "../../src/files/ledger-files.js";

/** `length` deterministic bytes (a different xorshift pattern per seed), not compressible by accident. */
export function bytes(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Byte equality as one assertion. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

/** A file's bytes, read through `stream()` (a chunk at a time). */
export async function streamed(file: DocFile): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of file.stream() as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

/** A document's files by name (untyped reads of `_files`). */
export const filesOf = (doc: object): Record<string, DocFile> => (doc as { _files?: unknown })._files as Record<string, DocFile>;
