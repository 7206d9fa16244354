/**
 * Range reads over the folded trees: `allDocs`, `changes` and `query` rows.
 * Pure functions of a tree snapshot; the ledger calls them while holding
 * its serial lock, so no checkpoint can collect a node mid-iteration.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { JsonValue } from "../doc/normalize.js";
import type { ProllyTree } from "../crdt/prolly.js";
import type { Register } from "../crdt/register.js";
import { encodeKey, encodePrefix } from "./collate.js";
import { cloneJson } from "./clone.js";
import { local } from "./keys.js";
import { inclusiveInterval, prefixInterval, type Interval } from "./ranges.js";
import { rowId, type IndexRow } from "./indexes.js";
import type { LedgerState } from "./state.js";
import type { AllDocsOptions, Doc, DocRow, QueryOptions, QueryRow, RangeOptions } from "./types.js";

/**
 * A register as the document callers see (a copy), or a deletion marker.
 * `owned`: the register was decoded for this read alone, so its document
 * is handed out as it is, without a deep copy (measured on a fresh
 * process reading all of a million documents: 4% less wall time).
 */
export function readDoc(id: string, register: Register, owned = false): Doc | { _id: string; _deleted: true } {
  if (register.w.d === null) return { _id: id, _deleted: true };
  return { _id: id, ...(owned ? register.w.d : cloneJson(register.w.d)) };
}

/** Validates the selection options shared by allDocs and query. */
export function checkRangeOptions<K>(options: RangeOptions<K>): void {
  const chosen = (["key", "keys", "prefix", "range"] as const).filter((k) => options[k] !== undefined);
  if (chosen.length > 1) {
    throw new HearthError("INVALID_ARGUMENT", `use only one of key, keys, prefix and range (got ${chosen.join(", ")})`);
  }
  if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 0)) {
    throw new HearthError("INVALID_ARGUMENT", `limit must be a non-negative integer, got ${String(options.limit)}`);
  }
  if (options.keys !== undefined && !Array.isArray(options.keys)) throw new HearthError("INVALID_ARGUMENT", "keys must be an array");
  if (options.range !== undefined && !(Array.isArray(options.range) && options.range.length === 2)) {
    throw new HearthError("INVALID_ARGUMENT", "range must be a two-item array [start, end] (both inclusive)");
  }
}

/** `allDocs` rows from the ledger's document registers (tree and overlay). */
export async function allDocRows(state: LedgerState, options: AllDocsOptions): Promise<DocRow[]> {
  const limit = options.limit ?? Infinity;
  const rows: DocRow[] = [];
  const accept = (id: string, register: Register | undefined, owned = false): void => {
    if (register === undefined || (register.w.d === null && !options.includeDeleted)) return;
    rows.push({ key: id, value: readDoc(id, register, owned) });
  };
  if (options.keys !== undefined || options.key !== undefined) {
    for (const id of options.keys ?? [options.key!]) {
      if (rows.length >= limit) break;
      if (typeof id !== "string") throw new HearthError("INVALID_ARGUMENT", "allDocs keys are document ids (strings)");
      accept(id, await state.register(id));
    }
    return rows;
  }
  let interval: Interval = {};
  if (options.prefix !== undefined) interval = prefixInterval(String(options.prefix));
  if (options.range !== undefined) interval = inclusiveInterval(options.range[0], options.range[1], false);
  if (limit === 0) return rows;
  for await (const batch of state.docBatches({ ...interval, reverse: options.descending === true })) {
    for (const [id, register, owned, doc] of batch) {
      if (register !== undefined) accept(id, register, owned);
      else if (doc) rows.push({ key: id, value: doc as Doc });
      else if (doc === null && options.includeDeleted) rows.push({ key: id, value: { _id: id, _deleted: true } });
      if (rows.length >= limit) return rows;
    }
  }
  return rows;
}

/** Changed-document rows after position `since`, in change order, plus the position reached. */
export async function changeRows(
  localTree: ProllyTree,
  stateTree: ProllyTree,
  since: number,
  limit: number,
): Promise<{ rows: DocRow[]; last: number; more: boolean }> {
  const rows: DocRow[] = [];
  let last = since;
  for await (const [key, id] of localTree.entries({ gte: local.change(since + 1), lt: local.CHANGE_END })) {
    if (rows.length >= limit) return { rows, last, more: true };
    const register = (await stateTree.get(id as string)) as Register | undefined;
    // No register: the document's only writes were taken back (made inert) since; it is gone.
    rows.push({ key: id as string, value: register ? readDoc(id as string, register) : { _id: id as string, _deleted: true } });
    last = local.seqOfChange(key);
  }
  return { rows, last, more: false };
}

/** `query` rows from an index tree. */
export async function queryRows(index: ProllyTree, state: ProllyTree, options: QueryOptions): Promise<QueryRow[]> {
  const limit = options.limit ?? Infinity;
  const reverse = options.descending === true;
  const intervals: Interval[] = [];
  if (options.keys !== undefined) {
    for (const key of options.keys) intervals.push(prefixInterval(`k${encodeKey(checkKey(key))}`));
  } else if (options.key !== undefined) {
    intervals.push(prefixInterval(`k${encodeKey(checkKey(options.key))}`));
  } else if (options.prefix !== undefined) {
    intervals.push(prefixInterval(`k${encodePrefix(options.prefix)}`));
  } else if (options.range !== undefined) {
    const [low, high] = options.range;
    intervals.push(inclusiveInterval(`k${encodeKey(checkKey(low))}`, `k${encodeKey(checkKey(high))}`, true));
  } else {
    intervals.push(prefixInterval("k"));
  }
  const rows: QueryRow[] = [];
  for (const interval of intervals) {
    if (rows.length >= limit) break;
    for await (const batch of index.batches({ ...interval, reverse })) {
      if (rows.length >= limit) break;
      for (let b = 0; b < batch.keys.length && rows.length < limit; b++) {
        const row = batch.value(b) as IndexRow;
        const id = rowId(batch.keys[b]!, row);
        const out: QueryRow = { id, key: cloneJson(row.k), value: row.v === undefined ? null : cloneJson(row.v) };
        if (options.includeDocs) {
          const register = (await state.get(id)) as Register | undefined;
          if (register && register.w.d !== null) out.doc = readDoc(id, register) as Doc;
        }
        rows.push(out);
      }
    }
  }
  return rows;
}

function checkKey(key: unknown): JsonValue {
  if (key === undefined) throw new HearthError("INVALID_ARGUMENT", "query key must be a JSON value, got undefined");
  return key as JsonValue;
}
