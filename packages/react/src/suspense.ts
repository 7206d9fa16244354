/**
 * The first result of a hook that suspends, kept outside the component
 * (React drops a suspended component's state): by ledger, then by what is
 * read. The entry is dropped once the component has mounted and
 * subscribed (`settleSuspended`), so the next mount reads afresh.
 *
 * @module
 */
import type { Ledger } from "@hearth/core";

interface Entry {
  readonly promise: Promise<void>;
  result?: unknown;
  error?: unknown;
  done: boolean;
}

const entries = new WeakMap<Ledger, Map<string, Entry>>();

/**
 * The result of `read` for (`db`, `key`) once it is in; until then throws
 * the promise React waits for (Suspense), or the error it failed with.
 */
export function readSuspended<T>(db: Ledger, key: string, read: () => Promise<T>): T {
  let byKey = entries.get(db);
  if (!byKey) entries.set(db, (byKey = new Map()));
  let entry = byKey.get(key);
  if (!entry) {
    const created: Entry = {
      done: false,
      promise: read().then(
        (result) => {
          created.result = result;
          created.done = true;
        },
        (error: unknown) => {
          created.error = error;
          created.done = true;
        },
      ),
    };
    byKey.set(key, (entry = created));
  }
  if (!entry.done) throw entry.promise;
  if (entry.error !== undefined) {
    byKey.delete(key); // the next render tries again
    throw entry.error;
  }
  return entry.result as T;
}

/** Drops the entry for (`db`, `key`): the component that read it now keeps its own state. */
export function settleSuspended(db: Ledger, key: string): void {
  entries.get(db)?.delete(key);
}
