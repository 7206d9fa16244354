/**
 * `useLiveQuery`: a query's rows, kept current as documents change.
 *
 * Built on core's `liveQuery`, which updates the result from each commit's
 * changed documents (Fireproof's hook runs the whole query again on every
 * write). What the hook adds:
 * - **Never stale, never flashing** (`./live-read.ts`, shared with
 *   `useAllDocs`): a result for old options never lands after a newer one,
 *   and the previous rows stay while new options load (`loading`).
 * - **Stable options.** Spec and options are compared by what they say
 *   (`./stable-key.ts`), so an inline `{ key: "x" }` does not resubscribe
 *   on every render.
 * - **Optional Suspense** (`{ suspense: true }`): the first render suspends
 *   until the first result is in.
 * - **SSR-safe.** With no ledger yet it returns empty rows.
 *
 * `includeDocs` defaults to true here (as in Fireproof), so `docs` holds
 * the rows' documents.
 *
 * @module
 */
import { liveQuery, type Doc, type HearthError, type Ledger, type LiveQueryResult, type MapFn, type QueryOptions, type QueryRow } from "@hearth/core";
import { stableKey } from "./stable-key.js";
import { readSuspended, settleSuspended } from "./suspense.js";
import { useLiveRead } from "./live-read.js";

/** Options of {@link useLiveQuery}: `query`'s, plus `suspense`. */
export interface UseLiveQueryOptions extends QueryOptions {
  /** Suspend the first render until the first result is in (wrap the component in `<Suspense>`). */
  suspense?: boolean;
}

/** What {@link useLiveQuery} returns. */
export interface LiveQueryState {
  readonly rows: readonly QueryRow[];
  /** The rows' documents, in row order (empty with `includeDocs: false`). */
  readonly docs: readonly Doc[];
  /** True once a result has been shown (for any options). */
  readonly hydrated: boolean;
  /** True while the current options' first result is not in (the rows shown are the previous ones). */
  readonly loading: boolean;
  /** Why the query failed (invalid options, a map function that throws, the ledger closed). */
  readonly error?: HearthError;
}

const EMPTY: LiveQueryResult = { rows: [], docs: [] };

/**
 * The rows of `db.query(spec, options)`, updated as documents change.
 *
 * @example
 * ```tsx
 * const { docs, loading } = useLiveQuery(db, "list", { key: listId });
 * ```
 */
export function useLiveQuery(db: Ledger | undefined, spec: string | MapFn, options: UseLiveQueryOptions = {}): LiveQueryState {
  const { suspense = false, ...rest } = options;
  const query: QueryOptions = { includeDocs: true, ...rest };
  const key = stableKey([spec, query]);
  const suspended = suspense && db !== undefined ? readSuspended(db, `query:${key}`, () => db.query(spec, query)) : undefined;
  const read = useLiveRead<LiveQueryResult>(
    db,
    key,
    EMPTY,
    (ledger, onValue, onError) => {
      settleSuspended(ledger, `query:${key}`);
      return liveQuery(ledger, spec, { ...query, onError }, onValue);
    },
    suspended && { rows: suspended.rows, docs: suspended.rows.flatMap((r) => (r.doc ? [r.doc] : [])) },
  );
  return {
    rows: read.value.rows,
    docs: read.value.docs,
    hydrated: read.hydrated,
    loading: read.loading,
    ...(read.error !== undefined && { error: read.error }),
  };
}
