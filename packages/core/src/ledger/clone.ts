/**
 * Deep copy of document values (JSON's, and byte arrays). Documents handed
 * to callers are copies, so a caller mutating a result can never alter the
 * ledger's cached state. For small plain objects this is several times
 * faster than `structuredClone`.
 *
 * @module
 */
export function cloneJson<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value instanceof Uint8Array) return value.slice() as T;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    const item = cloneJson((value as Record<string, unknown>)[key]);
    // An own `__proto__` field stays a field (assigned, it would set `out`'s prototype and vanish).
    if (key === "__proto__") Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out as T;
}
