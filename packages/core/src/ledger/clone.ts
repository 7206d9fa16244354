/**
 * Deep copy of document values (JSON's, and byte arrays). Documents handed
 * to callers are copies, so a caller mutating a result can never alter the
 * ledger's cached state. For small plain objects this is several times
 * faster than `structuredClone`.
 *
 * @module
 */
import { setField } from "../doc/normalize.js";

export function cloneJson<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value instanceof Uint8Array) return value.slice() as T;
  const out: Record<string, unknown> = {};
  for (const key in value) setField(out, key, cloneJson((value as Record<string, unknown>)[key]));
  return out as T;
}
