/**
 * `useChanges`: the documents changed since a clock, in the order they
 * last changed, kept current: each commit moves the documents it changed
 * to the end (a deleted one shows as `{ _id, _deleted: true }`).
 *
 * @module
 */
import { useEffect, useState } from "react";
import type { Clock, Doc, DocRow, HearthError, Ledger } from "@hearth/core";
import { stableKey } from "./stable-key.js";

/** What {@link useChanges} returns. */
export interface ChangesState {
  readonly rows: readonly DocRow[];
  readonly docs: ReadonlyArray<Doc | { _id: string; _deleted: true }>;
  readonly hydrated: boolean;
  readonly error?: HearthError;
}

/**
 * The rows of `db.changes(since)`, then every later change.
 *
 * @example
 * ```tsx
 * const { docs } = useChanges(db); // everything, most recently changed last
 * ```
 */
export function useChanges(db: Ledger | undefined, since: Clock = []): ChangesState {
  const key = stableKey(since);
  const [shown, setShown] = useState<{ rows: readonly DocRow[]; hydrated: boolean; error?: HearthError }>({ rows: [], hydrated: false });
  useEffect(() => {
    if (db === undefined) return;
    let active = true;
    /** Changes that came while the first read ran: applied after it. */
    let queued: Array<Array<Doc | { _id: string; _deleted: true }>> | undefined = [];
    let rows: DocRow[] = [];
    const apply = (docs: Array<Doc | { _id: string; _deleted: true }>): void => {
      const changed = new Set(docs.map((d) => d._id));
      rows = [...rows.filter((r) => !changed.has(r.key)), ...docs.map((value) => ({ key: value._id, value }))];
    };
    let unsubscribe = (): void => undefined;
    try {
      unsubscribe = db.subscribe((docs) => {
        if (!active) return;
        if (queued) return void queued.push(docs);
        apply(docs);
        setShown({ rows, hydrated: true });
      });
    } catch (err) {
      setShown((s) => ({ ...s, error: err as HearthError }));
      return;
    }
    (async () => {
      const first = await readAllChanges(db, JSON.parse(key) as Clock);
      if (!active) return;
      rows = first;
      for (const docs of queued ?? []) apply(docs);
      queued = undefined;
      setShown({ rows, hydrated: true });
    })().catch((err: unknown) => active && setShown((s) => ({ ...s, error: err as HearthError })));
    return () => {
      active = false;
      unsubscribe();
    };
  }, [db, key]);
  return { rows: shown.rows, docs: shown.rows.map((r) => r.value), hydrated: shown.hydrated, ...(shown.error !== undefined && { error: shown.error }) };
}

/** Every change since `since`, a page at a time. */
async function readAllChanges(db: Ledger, since: Clock): Promise<DocRow[]> {
  const rows: DocRow[] = [];
  for (let clock = since; ; ) {
    const page = await db.changes(clock, { limit: 1_000 });
    rows.push(...page.rows);
    if (page.rows.length < 1_000) return rows;
    clock = page.clock;
  }
}
