/**
 * Turns the `key / prefix / range` options that `allDocs` and `query`
 * share into one string interval over a tree's keys.
 *
 * @module
 */

/** A half-open string interval `[gte, lt)`; a missing bound is open. */
export interface Interval {
  readonly gte?: string;
  readonly lt?: string;
}

/**
 * The smallest string greater than every string that starts with `s`
 * (undefined if there is none, i.e. `s` is all U+FFFF).
 */
export function successor(s: string): string | undefined {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0xffff) end--;
  if (end === 0) return undefined;
  return s.slice(0, end - 1) + String.fromCharCode(s.charCodeAt(end - 1) + 1);
}

/** Every key starting with `prefix`. */
export function prefixInterval(prefix: string): Interval {
  const lt = successor(prefix);
  return lt === undefined ? { gte: prefix } : { gte: prefix, lt };
}

/** Keys from `low` to `high`, both inclusive, where keys may carry a suffix after the bound (index keys: `encodedKey + id`). */
export function inclusiveInterval(low: string | undefined, high: string | undefined, suffixed: boolean): Interval {
  const out: { gte?: string; lt?: string } = {};
  if (low !== undefined) out.gte = low;
  if (high !== undefined) {
    const lt = suffixed ? successor(high) : high + "\u0000";
    if (lt !== undefined) out.lt = lt;
  }
  return out;
}
