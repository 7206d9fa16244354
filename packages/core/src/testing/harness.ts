/**
 * A framework-free way to write conformance suites that run both under
 * vitest (Node) and in a real browser page (no test runner there): a suite
 * is a list of named async cases, and assertions throw plain `Error`s.
 *
 * @module
 */
import { HearthError, type HearthErrorCode } from "../errors.js";

/** One named, self-contained test case. */
export interface TestCase {
  readonly name: string;
  run(): Promise<void>;
}

/** Throws unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Throws unless `actual` and `expected` are deeply equal (JSON-like values and Uint8Arrays). */
export function checkEqual(actual: unknown, expected: unknown, message = "values differ"): void {
  if (!deepEqual(actual, expected)) {
    throw new Error(`${message}\n  expected: ${show(expected)}\n  actual:   ${show(actual)}`);
  }
}

/** Awaits `promise` and throws unless it rejects with a HearthError of `code`. */
export async function checkRejects(promise: Promise<unknown> | (() => Promise<unknown>), code: HearthErrorCode | "TypeError"): Promise<unknown> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (err) {
    if (code === "TypeError" ? err instanceof TypeError : err instanceof HearthError && err.code === code) return err;
    throw new Error(`expected rejection with ${code}, got ${String((err as Error)?.stack ?? err)}`);
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

/** Deep equality over JSON-like values, `Uint8Array`s and objects with `equals` (CIDs). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    return a.every((x, i) => x === b[i]);
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `Uint8Array[${Array.from(v.slice(0, 32)).join(",")}${v.length > 32 ? ",…" : ""}]`;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** Encodes a string as UTF-8 bytes (test convenience). */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
