/**
 * Fireproof's selection options as Hearth's: where several are given,
 * Fireproof takes the first of `range`, `key`, `keys`, `prefix` (Hearth
 * refuses more than one); a query's single-value `prefix` means an array
 * key's first item (Fireproof's `prefix: 2024` matches `[2024, …]`).
 *
 * @module
 */
import type { JsonValue, QueryOptions, AllDocsOptions } from "@hearth/core";
import type { AllDocsQueryOpts, QueryOpts } from "./types.js";

/** Hearth `query` options for Fireproof's (`includeDocs` true unless false). */
export function queryOptions(opts: QueryOpts = {}): QueryOptions {
  const out: QueryOptions = { includeDocs: opts.includeDocs !== false };
  if (opts.descending !== undefined) out.descending = opts.descending;
  if (opts.limit !== undefined) out.limit = opts.limit;
  if (opts.range !== undefined) out.range = opts.range as [JsonValue, JsonValue];
  else if (opts.key !== undefined) out.key = opts.key as JsonValue;
  else if (opts.keys !== undefined) out.keys = opts.keys as JsonValue[];
  else if (opts.prefix !== undefined) out.prefix = (Array.isArray(opts.prefix) ? opts.prefix : [opts.prefix]) as JsonValue[];
  return out;
}

/** Hearth `allDocs` options for Fireproof's. */
export function allDocsOptions(opts: AllDocsQueryOpts = {}): AllDocsOptions {
  const out: AllDocsOptions = {};
  if (opts.descending !== undefined) out.descending = opts.descending;
  if (opts.limit !== undefined) out.limit = opts.limit;
  if (opts.includeDeleted !== undefined) out.includeDeleted = opts.includeDeleted;
  if (opts.range !== undefined) out.range = opts.range;
  else if (opts.key !== undefined) out.key = opts.key;
  else if (opts.keys !== undefined) out.keys = opts.keys;
  else if (opts.prefix !== undefined) out.prefix = opts.prefix;
  return out;
}
