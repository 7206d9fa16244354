/**
 * A stable text for hook arguments (a query's spec and options), so a hook
 * re-subscribes when what they say changes, not when a component passes an
 * equal object literal on every render.
 *
 * Functions count by their source (as core names an unnamed index), bytes
 * by their hex, objects by their sorted entries.
 *
 * @module
 */

/** The stable text of `value` (see the module docs). */
export function stableKey(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "function") return `fn:${v.toString()}`;
    if (v instanceof Uint8Array) return `bytes:${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    if (v === undefined) return "undefined";
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}
