/**
 * `useAllDocs`: documents by id, kept current as they change (core's
 * `liveAllDocs`: updated from each commit's changed documents), with the
 * same guarantees as `useLiveQuery`: never stale, never flashing, stable
 * options, empty with no ledger (SSR).
 *
 * @module
 */
import { useEffect, useRef, useState } from "react";
import { liveAllDocs, type AllDocsOptions, type Doc, type DocRow, type HearthError, type Ledger } from "@hearth/core";
import { stableKey } from "./stable-key.js";

/** What {@link useAllDocs} returns. */
export interface AllDocsState {
  readonly rows: readonly DocRow[];
  /** The rows' documents (deleted ones too, with `includeDeleted`, as `{ _id, _deleted: true }`). */
  readonly docs: ReadonlyArray<Doc | { _id: string; _deleted: true }>;
  /** True once a result has been shown. */
  readonly hydrated: boolean;
  /** True while the current options' first result is not in. */
  readonly loading: boolean;
  readonly error?: HearthError;
}

interface Shown {
  readonly key: string | undefined;
  readonly rows: readonly DocRow[];
  readonly error?: HearthError;
}

/**
 * The rows of `db.allDocs(options)`, updated as documents change.
 *
 * @example
 * ```tsx
 * const { docs } = useAllDocs(db, { prefix: "todo:" });
 * ```
 */
export function useAllDocs(db: Ledger | undefined, options: AllDocsOptions = {}): AllDocsState {
  const key = stableKey(options);
  const latest = useRef(options);
  latest.current = options;
  const [shown, setShown] = useState<Shown>({ key: undefined, rows: [] });
  useEffect(() => {
    if (db === undefined) return;
    let active = true;
    let stop = (): void => undefined;
    try {
      stop = liveAllDocs(db, { ...latest.current, onError: (error) => active && setShown((s) => ({ ...s, key, error })) }, (rows) => active && setShown({ key, rows }));
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
    docs: shown.rows.map((r) => r.value),
    hydrated: shown.key !== undefined,
    loading: db !== undefined && !current,
    ...(current && shown.error !== undefined && { error: shown.error }),
  };
}
