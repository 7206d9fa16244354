/**
 * `useAllDocs`: documents by id, kept current as they change (core's
 * `liveAllDocs`: updated from each commit's changed documents), with the
 * same guarantees as `useLiveQuery`: never stale, never flashing, stable
 * options, empty with no ledger (SSR).
 *
 * @module
 */
import { liveAllDocs, type AllDocsOptions, type Doc, type DocRow, type HearthError, type Ledger } from "@hearth/core";
import { stableKey } from "./stable-key.js";
import { useLiveRead } from "./live-read.js";

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

const EMPTY: readonly DocRow[] = [];

/**
 * The rows of `db.allDocs(options)`, updated as documents change.
 *
 * @example
 * ```tsx
 * const { docs } = useAllDocs(db, { prefix: "todo:" });
 * ```
 */
export function useAllDocs(db: Ledger | undefined, options: AllDocsOptions = {}): AllDocsState {
  const read = useLiveRead<readonly DocRow[]>(db, stableKey(options), EMPTY, (ledger, onValue, onError) => liveAllDocs(ledger, { ...options, onError }, onValue));
  return {
    rows: read.value,
    docs: read.value.map((r) => r.value),
    hydrated: read.hydrated,
    loading: read.loading,
    ...(read.error !== undefined && { error: read.error }),
  };
}
