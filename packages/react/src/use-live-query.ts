/**
 * `useLiveQuery`: a query's rows, kept current as documents change.
 *
 * Built on core's `liveQuery`, which updates the result from each commit's
 * changed documents (Fireproof's hook runs the whole query again on every
 * write). What the hook adds:
 * - **Never stale.** Each subscription belongs to one effect run; its
 *   results are dropped once that run is cleaned up, so a result for old
 *   options can never land after a newer one.
 * - **Never flashing.** While new options load, the previous rows stay
 *   (`loading` says so) instead of an empty list.
 * - **Stable options.** Spec and options are compared by what they say
 *   (`./stable-key.ts`), so an inline `{ key: "x" }` does not resubscribe
 *   on every render.
 * - **Optional Suspense** (`{ suspense: true }`): the first render suspends
 *   until the first result is in.
 * - **SSR-safe.** With no ledger yet (`db` undefined, as during server
 *   rendering, where effects never run) it returns empty rows.
 *
 * `includeDocs` defaults to true here (as in Fireproof), so `docs` holds
 * the rows' documents.
 *
 * @module
 */
import { useEffect, useRef, useState } from "react";
import { liveQuery, type Doc, type HearthError, type Ledger, type MapFn, type QueryOptions, type QueryRow } from "@hearth/core";
import { stableKey } from "./stable-key.js";
import { readSuspended, settleSuspended } from "./suspense.js";

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

interface Shown {
  /** The options the result is for. */
  readonly key: string | undefined;
  readonly rows: readonly QueryRow[];
  readonly docs: readonly Doc[];
  readonly error?: HearthError;
}

const EMPTY: Shown = { key: undefined, rows: [], docs: [] };

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
  const latest = useRef({ spec, query });
  latest.current = { spec, query };
  const suspended = suspense && db !== undefined ? readSuspended(db, `query:${key}`, () => db.query(spec, query)) : undefined;
  const [shown, setShown] = useState<Shown>(() =>
    suspended ? { key, rows: suspended.rows, docs: suspended.rows.flatMap((r) => (r.doc ? [r.doc] : [])) } : EMPTY,
  );
  useEffect(() => {
    if (db === undefined) return;
    settleSuspended(db, `query:${key}`);
    let active = true;
    let stop = (): void => undefined;
    try {
      stop = liveQuery(
        db,
        latest.current.spec,
        { ...latest.current.query, onError: (error) => active && setShown((s) => ({ ...s, key, error })) },
        ({ rows, docs }) => active && setShown({ key, rows, docs }),
      );
    } catch (err) {
      setShown((s) => ({ ...s, key, error: err as HearthError }));
    }
    return () => {
      active = false;
      stop();
    };
  }, [db, key]);
  const current = shown.key === key;
  return {
    rows: shown.rows,
    docs: shown.docs,
    hydrated: shown.key !== undefined,
    loading: db !== undefined && !current,
    ...(current && shown.error !== undefined && { error: shown.error }),
  };
}
