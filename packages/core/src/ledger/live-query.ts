/**
 * Live queries: a query's (or `allDocs`') result kept current from the
 * documents each commit changed, instead of reading it again on every
 * commit.
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
import type { AllDocsOptions, Doc, DocRow, QueryOptions, QueryRow } from "./types.js";
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
interface Held<R> {
  readonly row: R;
  readonly id: string;
  /** Which of `keys` it matched (0 without `keys`). */
  readonly group: number;
  /** Where it sorts within its group (for a query, its index tree key without the `k`: the encoded key, then the id). */
  readonly sort: string;
}

type Change = Doc | { _id: string; _deleted: true };

/** What one kind of live read needs: how to read it whole, and the rows one changed document holds in it. */
interface LiveSource<R> {
  read(): Promise<Array<Held<R>>>;
  /** The rows of one changed document; `undefined` when only a full read can tell (the map function failed). */
  rowsOf(doc: Change): Array<Held<R>> | undefined;
  readonly descending: boolean;
  readonly limit: number;
  /** The selection repeats rows (`keys` names a key twice): only full reads are right. */
  readonly repeats: boolean;
}

/**
 * Runs `query(spec, options)` and calls `listener` with its result, then
 * again after every commit that changes it. Returns a function that stops.
 *
 * @throws HearthError `INVALID_ARGUMENT` for invalid selection options (as `query`), `STORE_CLOSED` on a closed ledger
 * @example
 * ```ts
 * const stop = liveQuery(db, "done", { key: false, includeDocs: true }, ({ docs }) => render(docs));
 * ```
 */
export function liveQuery(db: Ledger, spec: string | MapFn, options: LiveQueryOptions, listener: (result: LiveQueryResult) => void): () => void {
  const { onError, ...query } = options;
  checkRangeOptions(query);
  const def = describeIndex(spec, query.index);
  const selection = selector(query.keys, query.key, query.prefix === undefined ? undefined : encodePrefix(query.prefix), query.range, encodeKey);
  const held = (row: QueryRow): Held<QueryRow> => ({ row, id: row.id, group: selection.group(row.key) ?? 0, sort: encodeKey(row.key) + row.id });
  const source: LiveSource<QueryRow> = {
    read: async () => (await db.query(spec, query)).rows.map(held),
    rowsOf: (doc) => {
      if ((doc as { _deleted?: boolean })._deleted === true) return [];
      const { _id: id, _conflicts: _, ...body } = doc as Doc;
      let emitted: Array<[JsonValue, JsonValue]>;
      try {
        emitted = def.map(id, body as never);
      } catch {
        return undefined; // the full read reports what failed
      }
      // By sort key: an index holds one row per key and document (the last emitted).
      const rows = new Map<string, Held<QueryRow>>();
      for (const [key, value] of emitted) {
        if (selection.group(key) === undefined) continue;
        const row: QueryRow = { id, key, value };
        if (query.includeDocs) row.doc = doc as Doc;
        const h = held(row);
        rows.delete(h.sort);
        rows.set(h.sort, h);
      }
      return [...rows.values()];
    },
    descending: query.descending === true,
    limit: query.limit ?? Infinity,
    repeats: selection.repeats,
  };
  return live(db, source, (rows) => listener({ rows, docs: query.includeDocs ? rows.flatMap((r) => (r.doc ? [r.doc] : [])) : [] }), onError);
}

/** Options of {@link liveAllDocs}: `allDocs`'s, and where errors go. */
export interface LiveAllDocsOptions extends AllDocsOptions {
  /** Called if the read fails (the ledger closed under it); the live read stops. Default: ignored. */
  onError?: (error: HearthError) => void;
}

/**
 * Runs `allDocs(options)` and calls `listener` with its rows, then again
 * after every commit that changes them (updated from the changed documents,
 * as {@link liveQuery}). Returns a function that stops.
 *
 * @throws HearthError `INVALID_ARGUMENT` for invalid selection options (as `allDocs`), `STORE_CLOSED` on a closed ledger
 */
export function liveAllDocs(db: Ledger, options: LiveAllDocsOptions, listener: (rows: readonly DocRow[]) => void): () => void {
  const { onError, ...read } = options;
  checkRangeOptions(read);
  const selection = selector(read.keys, read.key, read.prefix, read.range, (id) => id as string);
  const held = (row: DocRow): Held<DocRow> => ({ row, id: row.key, group: selection.group(row.key) ?? 0, sort: row.key });
  const source: LiveSource<DocRow> = {
    read: async () => (await db.allDocs(read)).rows.map(held),
    rowsOf: (doc) => {
      if ((doc as { _deleted?: boolean })._deleted === true && !read.includeDeleted) return [];
      return selection.group(doc._id) === undefined ? [] : [held({ key: doc._id, value: doc })];
    },
    descending: read.descending === true,
    limit: read.limit ?? Infinity,
    repeats: selection.repeats,
  };
  return live(db, source, listener, onError);
}

/** The engine both share: subscribe, read once, then apply each notification (see the module docs). */
function live<R>(db: Ledger, source: LiveSource<R>, listener: (rows: R[]) => void, onError: ((error: HearthError) => void) | undefined): () => void {
  let rows: Array<Held<R>> = [];
  /** Notifications that came while a full read ran: applied after it, in order. */
  let pending: Change[][] | undefined = [];
  let stopped = false;
  /** Bumped by every full read, so an older read that ends later is dropped. */
  let reads = 0;
  const before = order(source.descending);

  const emit = (): void => {
    if (!stopped) listener(rows.map((h) => h.row));
  };
  const fail = (err: unknown): void => {
    if (stopped) return;
    stop();
    onError?.(isHearthError(err) ? err : new HearthError("INVALID_ARGUMENT", `live read failed: ${String(err)}`, { cause: err }));
  };
  const readAll = (): void => {
    const read = ++reads;
    pending ??= [];
    source.read().then((result) => {
      if (stopped || read !== reads) return;
      rows = result;
      const queued = pending ?? [];
      pending = undefined;
      for (const docs of queued) if (!apply(docs)) return readAll();
      emit();
    }, fail);
  };
  /** Applies one notification; false when only a full read can tell the result. */
  const apply = (docs: readonly Change[]): boolean => {
    if (source.repeats) return false;
    const changed = new Set(docs.map((d) => d._id));
    const kept = rows.filter((h) => !changed.has(h.id));
    if (rows.length >= source.limit && kept.length < rows.length) return false; // the rows after the cut are not held
    const added: Array<Held<R>> = [];
    for (const doc of docs) {
      const of = source.rowsOf(doc);
      if (of === undefined) return false;
      added.push(...of);
    }
    if (added.length === 0 && kept.length === rows.length) return true;
    for (const h of added) kept.splice(insertionPoint(kept, h, before), 0, h);
    rows = kept.length > source.limit ? kept.slice(0, source.limit) : kept;
    return true;
  };

  const unsubscribe = db.subscribe((docs) => {
    if (stopped) return;
    if (pending) return void pending.push(docs);
    if (!apply(docs)) return readAll();
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
function order(descending: boolean): (a: Held<unknown>, b: Held<unknown>) => boolean {
  return (a, b) => a.group < b.group || (a.group === b.group && (descending ? a.sort > b.sort : a.sort < b.sort));
}

/** Where `held` goes in `sorted` (binary search). */
function insertionPoint<R>(sorted: ReadonlyArray<Held<R>>, held: Held<R>, before: (a: Held<R>, b: Held<R>) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (before(sorted[mid]!, held)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Which rows a key selection takes, and in which group (`keys` order):
 * keys are compared by `encode` (index collation for queries, the id
 * itself for allDocs); `prefix` comes encoded.
 */
function selector<K>(
  keys: readonly K[] | undefined,
  key: K | undefined,
  prefix: string | undefined,
  range: readonly [K, K] | undefined,
  encode: (key: K) => string,
): { group(key: K): number | undefined; readonly repeats: boolean } {
  if (keys !== undefined) {
    const groups = new Map<string, number>();
    let repeats = false;
    keys.forEach((k, i) => {
      const encoded = encode(k);
      if (groups.has(encoded)) repeats = true;
      else groups.set(encoded, i);
    });
    return { group: (k) => groups.get(encode(k)), repeats };
  }
  if (key !== undefined) {
    const wanted = encode(key);
    return { group: (k) => (encode(k) === wanted ? 0 : undefined), repeats: false };
  }
  if (prefix !== undefined) return { group: (k) => (encode(k).startsWith(prefix) ? 0 : undefined), repeats: false };
  if (range !== undefined) {
    const low = encode(range[0]);
    const high = encode(range[1]);
    return {
      group: (k) => {
        const encoded = encode(k);
        return encoded >= low && encoded <= high ? 0 : undefined;
      },
      repeats: false,
    };
  }
  return { group: () => 0, repeats: false };
}
