/**
 * What `useLiveQuery` and `useAllDocs` share: one live read per effect run,
 * its results kept with the options they are for.
 *
 * - **Never stale.** A read belongs to one effect run; once that run is
 *   cleaned up its results are dropped, so a result for old options can
 *   never land after a newer one.
 * - **Never flashing.** While new options load, the previous value stays
 *   (`loading` says so) instead of an empty one.
 * - **SSR-safe.** With no ledger yet (as during server rendering, where
 *   effects never run) it returns the empty value.
 *
 * @module
 */
import { useEffect, useRef, useState } from "react";
import type { HearthError, Ledger } from "@hearth/core";

/** Starts a live read on `db`; returns the function that stops it. May throw (invalid options). */
export type StartLiveRead<T> = (db: Ledger, onValue: (value: T) => void, onError: (error: HearthError) => void) => () => void;

/** What {@link useLiveRead} returns. */
export interface LiveReadState<T> {
  readonly value: T;
  /** True once a value has been shown (for any options). */
  readonly hydrated: boolean;
  /** True while the current options' first value is not in (the value shown is the previous one). */
  readonly loading: boolean;
  readonly error?: HearthError;
}

interface Shown<T> {
  /** The options the value is for. */
  readonly key: string | undefined;
  readonly value: T;
  readonly error?: HearthError;
}

/**
 * Runs `start` on `db` for the options `key` names (again when `db` or
 * `key` changes); `initial`, when given, is the first value for `key`
 * (read before, e.g. while suspended).
 */
export function useLiveRead<T>(db: Ledger | undefined, key: string, empty: T, start: StartLiveRead<T>, initial?: T): LiveReadState<T> {
  const latest = useRef(start);
  latest.current = start;
  const [shown, setShown] = useState<Shown<T>>(() => (initial === undefined ? { key: undefined, value: empty } : { key, value: initial }));
  useEffect(() => {
    if (db === undefined) return;
    let active = true;
    let stop = (): void => undefined;
    try {
      stop = latest.current(
        db,
        (value) => active && setShown({ key, value }),
        (error) => active && setShown((s) => ({ ...s, key, error })),
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
    value: shown.value,
    hydrated: shown.key !== undefined,
    loading: db !== undefined && !current,
    ...(current && shown.error !== undefined && { error: shown.error }),
  };
}
