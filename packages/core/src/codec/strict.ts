/**
 * Field checks for strict decoders of signed or sealed records read from a
 * sync point (membership entries, key records): every record is a plain
 * dag-cbor map with exactly the expected fields, of exactly the expected
 * types and sizes, or it is refused as `INTEGRITY`. One set of checks, so
 * every record kind refuses in the same words.
 *
 * ```ts
 * const { malformed, asMap, exactFields, bytesField } = strictDecoder("key record");
 * ```
 *
 * Portable.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/** The checks {@link strictDecoder} returns, each throwing `INTEGRITY` naming the record kind. */
export interface StrictDecoder {
  /** The error for a record that is not what it should be, saying `why`. */
  malformed(why: string, cause?: unknown): HearthError;
  /** `value` if it is a plain map (not a list, bytes, a CID or any other object). */
  asMap(value: unknown, what: string): Record<string, unknown>;
  /** Throws unless `map` has exactly `fields`. */
  exactFields(map: Record<string, unknown>, fields: readonly string[]): void;
  /** `value` if it is bytes (of exactly `length`, when given). */
  bytesField(value: unknown, name: string, length?: number): Uint8Array;
}

/** Strict checks for records of kind `thing` ("membership entry", "key record", …). */
export function strictDecoder(thing: string): StrictDecoder {
  const malformed = (why: string, cause?: unknown): HearthError =>
    new HearthError("INTEGRITY", `${thing} is malformed (${why}); it was damaged or not written by Hearth, and is ignored`, { cause });
  return {
    malformed,
    asMap(value, what) {
      if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype) throw malformed(`its ${what} is not a map`);
      return value as Record<string, unknown>;
    },
    exactFields(map, fields) {
      const keys = Object.keys(map);
      const extra = keys.find((k) => !fields.includes(k));
      if (extra !== undefined) throw malformed(`it has an unknown field ${JSON.stringify(extra)}`);
      const missing = fields.find((f) => !keys.includes(f));
      if (missing !== undefined) throw malformed(`it lacks the field ${JSON.stringify(missing)}`);
    },
    bytesField(value, name, length) {
      if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
        throw malformed(`its ${name} is not ${length === undefined ? "bytes" : `${length} bytes`}`);
      }
      return value;
    },
  };
}
