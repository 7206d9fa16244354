/**
 * Live queries: a query's result kept current from the documents each
 * commit changed, instead of running the query again on every commit.
 *
 * Fireproof's live queries run the whole query again after every write,
 * local or remote, so a list of 10,000 rows costs a full index read per
 * keystroke. Here the result is read once; afterwards each notification
 * (`Ledger.subscribe`, which names the documents a commit changed, merged
 * or local) updates it in place: the changed documents' rows are taken
 * out and their new rows, run through the same map function and the same
 * key selection, are put back at their place in index order.
 *
 * The query is read again in full only where an update cannot know the
 * answer: a row left a result cut by `limit` (the next row is not held),
 * `keys` names a key twice (rows repeat), or the map function failed.
 *
 * Consistency: it subscribes before the first read and applies every
 * notification after it in order; a notification carries each document's
 * state at its commit, so applying one the read already saw changes
 * nothing. Results are new arrays each time: a listener may keep one.
 *
 * Framework-free: the React hooks (`@hearth/react`) and the Fireproof
 * drop-in build on it.
 *
 * @module
 */
import type { Ledger } from "./ledger.js";
import { encodeKey, encodePrefix } from "./collate.js";
import { describeIndex, type MapFn } from "./indexes.js";
import type { JsonValue } from "../doc/normalize.js";
import type { Doc, QueryOptions, QueryRow } from "./types.js";
import { HearthError, isHearthError } from "../errors.js";
import { checkRangeOptions } from "./reads.js";

/** What a live query reports each time its result changes. */
export interface LiveQueryResult {
  readonly rows: readonly QueryRow[];
  /** Each row's document (with `includeDocs`, else empty), in row order. */
  readonly docs: readonly Doc[];
}

/** Options of {@link liveQuery}: `query`'s, and where errors go. */
export interface LiveQueryOptions extends QueryOptions {
  /** Called if the query fails (an invalid option, the ledger closed); the live query stops. Default: ignored. */
  onError?: (error: HearthError) => void;
}

/** A row held with where it sorts. */
interface HeldRow {
  readonly row: QueryRow;
  /** Which of `keys` it matched (0 without `keys`). */
  readonly group: number;
  /** Its index tree key without the `k`: the encoded key, then the id. */
  readonly sort: string;
}

/**
 * Runs `query(spec, options)` and calls `listener` with its result, then
 * again after every commit that changes it. Returns a function that stops.
 *
 * @throws HearthError `INVALID_ARGUMENT` for invalid selection options (as `query`)
 * @example
 * ```ts
 * const stop = liveQuery(db, "done", { key: false, includeDocs: true }, ({ docs }) => render(docs));
 * ```
 */
export function liveQuery(db: Ledger, spec: string | MapFn, options: LiveQueryOptions, listener: (result: LiveQueryResult) => void): () => void {
  const { onError, ...query } = options;
  checkRangeOptions(query);
  const def = describeIndex(spec, query.index);
  const selection = selector(query);
  const limit = query.limit ?? Infinity;
  let rows: HeldRow[] = [];
  let pending: Array<Parameters<Parameters<Ledger["subscribe"]>[0]>[0]> | undefined = [];
  let stopped = false;
  /** Bumped by every full read, so an older read that ends later is dropped. */
  let reads = 0;

  const emit = (): void => {
    if (stopped) return;
    const out = rows.map((h) => h.row);
    listener({ rows: out, docs: query.includeDocs ? out.flatMap((r) => (r.doc ? [r.doc] : [])) : [] });
  };
  const fail = (err: unknown): void => {
    if (stopped) return;
    stop();
    onError?.(isHearthError(err) ? err : new HearthError("INVALID_ARGUMENT", `live query failed: ${String(err)}`, { cause: err }));
  };
  const readAll = (): void => {
    const read = ++reads;
    pending = pending ?? [];
    db.query(spec, query).then(
      (result) => {
        if (stopped || read !== reads) return;
        rows = result.rows.map((row) => ({ row, group: selection.group(row.key) ?? 0, sort: encodeKey(row.key) + row.id }));
        const queued = pending ?? [];
        pending = undefined;
        for (const docs of queued) if (!apply(docs)) return readAll();
        emit();
      },
      fail,
    );
  };
  /** Applies one notification; false when the result can only be read again. */
  const apply = (docs: Array<Doc | { _id: string; _deleted: true }>): boolean => {
    const changed = new Set(docs.map((d) => d._id));
    const full = rows.length >= limit;
    const kept = rows.filter((h) => !changed.has(h.row.id));
    if (full && kept.length < rows.length) return false; // the rows after the cut are not held
    // By sort key: an index holds one row per key and document (the last emitted).
    const added = new Map<string, HeldRow>();
    for (const doc of docs) {
      if ((doc as { _deleted?: boolean })._deleted === true) continue;
      const { _id: id, _conflicts: _, ...body } = doc as Doc;
      let emitted: Array<[JsonValue, JsonValue]>;
      try {
        emitted = def.map(id, body as never);
      } catch {
        return false; // the read reports what failed
      }
      for (const [key, value] of emitted) {
        const group = selection.group(key);
        if (group === undefined) continue;
        const row: QueryRow = { id, key, value };
        if (query.includeDocs) row.doc = doc as Doc;
        const sort = encodeKey(key) + id;
        added.delete(sort);
        added.set(sort, { row, group, sort });
      }
    }
    if (added.size === 0 && kept.length === rows.length) return true;
    const before = order(query.descending === true);
    for (const held of added.values()) kept.splice(insertionPoint(kept, held, before), 0, held);
    rows = kept.length > limit ? kept.slice(0, limit) : kept;
    return true;
  };

  const unsubscribe = db.subscribe((docs) => {
    if (stopped) return;
    if (pending) return void pending.push(docs);
    if (selection.repeats || !apply(docs)) return readAll();
    emit();
  });
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
  };
  readAll();
  return stop;
}

/** The query's row order: by `keys` group, then by index key and id (reversed with `descending`). */
function order(descending: boolean): (a: HeldRow, b: HeldRow) => boolean {
  return (a, b) => a.group < b.group || (a.group === b.group && (descending ? a.sort > b.sort : a.sort < b.sort));
}

/** Where `held` goes in `sorted` (binary search). */
function insertionPoint(sorted: readonly HeldRow[], held: HeldRow, before: (a: HeldRow, b: HeldRow) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (before(sorted[mid]!, held)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Which rows a query's key selection takes, and in which group (`keys` order). */
function selector(options: QueryOptions): { group(key: JsonValue): number | undefined; readonly repeats: boolean } {
  if (options.keys !== undefined) {
    const groups = new Map<string, number>();
    let repeats = false;
    options.keys.forEach((k, i) => {
      const encoded = encodeKey(k);
      if (groups.has(encoded)) repeats = true;
      else groups.set(encoded, i);
    });
    return { group: (key) => groups.get(encodeKey(key)), repeats };
  }
  if (options.key !== undefined) {
    const wanted = encodeKey(options.key);
    return { group: (key) => (encodeKey(key) === wanted ? 0 : undefined), repeats: false };
  }
  if (options.prefix !== undefined) {
    const prefix = encodePrefix(options.prefix);
    return { group: (key) => (encodeKey(key).startsWith(prefix) ? 0 : undefined), repeats: false };
  }
  if (options.range !== undefined) {
    const low = encodeKey(options.range[0]);
    const high = encodeKey(options.range[1]);
    return {
      group: (key) => {
        const encoded = encodeKey(key);
        return encoded >= low && encoded <= high ? 0 : undefined;
      },
      repeats: false,
    };
  }
  return { group: () => 0, repeats: false };
}
