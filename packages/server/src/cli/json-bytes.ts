/**
 * Bytes in JSON lines: documents may hold `Uint8Array` values, which JSON
 * lacks. `hearth export` writes each as `{"/": {"bytes": "<base64>"}}`,
 * the form DAG-JSON (IPLD's JSON encoding) gives bytes: standard base64
 * alphabet, no padding. `hearth import` reads that form back as bytes.
 *
 * The one ambiguity is DAG-JSON's own: a document that really holds an
 * object `{"/": {"bytes": "…"}}` (that key, that one nested key, a base64
 * string) comes back as bytes. No other object is touched.
 *
 * @module
 */

/** A document as one JSON line, bytes written in the DAG-JSON form. */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // JSON.stringify calls a Buffer's toJSON before the replacer; read the holder's own value.
    const own = key === "" ? v : (this as Record<string, unknown>)[key];
    return own instanceof Uint8Array ? { "/": { bytes: Buffer.from(own.buffer, own.byteOffset, own.byteLength).toString("base64").replace(/=+$/, "") } } : v;
  });
}

const BASE64 = /^[A-Za-z0-9+/]*$/;

/** `JSON.parse` reviver turning `{"/": {"bytes": "<base64>"}}` into a `Uint8Array`. */
export function reviveBytes(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "/") return value;
  const inner = (value as { "/": unknown })["/"];
  if (typeof inner !== "object" || inner === null || Array.isArray(inner)) return value;
  const innerKeys = Object.keys(inner);
  const bytes = (inner as { bytes?: unknown }).bytes;
  if (innerKeys.length !== 1 || typeof bytes !== "string" || !BASE64.test(bytes) || bytes.length % 4 === 1) return value;
  const decoded = Buffer.from(bytes, "base64");
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
}
