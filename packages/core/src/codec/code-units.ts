/**
 * Comparing stored keys with a string without decoding them. Keys that are
 * one byte per UTF-16 code unit (ASCII tree keys, the file store's latin1
 * key names) compare byte by byte with the probe's code units, which is
 * exactly JavaScript's string order: a lookup then costs no string per key.
 *
 * @module
 */

/**
 * Sign of (the key in `bytes[start … end)` − `key`) in string order, for a
 * key stored one byte per code unit: negative, zero or positive.
 */
export function compareCodeUnits(bytes: Uint8Array, start: number, end: number, key: string): number {
  const length = end - start;
  const common = Math.min(length, key.length);
  for (let i = 0; i < common; i++) {
    const diff = bytes[start + i]! - key.charCodeAt(i);
    if (diff !== 0) return diff;
  }
  return length - key.length;
}

/** Sign of (`bytes[aStart … aEnd)` − `bytes[bStart … bEnd)`), bytewise: two keys stored as above, in string order. */
export function compareByteSpans(bytes: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const common = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < common; i++) {
    const diff = bytes[aStart + i]! - bytes[bStart + i]!;
    if (diff !== 0) return diff;
  }
  return aEnd - aStart - (bEnd - bStart);
}
