/**
 * `useFireproof(name)`: use-fireproof's hook on Hearth, with its return
 * shapes: `{ database, useLiveQuery, useDocument, useAllDocs, useChanges,
 * attach }`; `useLiveQuery` → `{ rows, docs, hydrated }`; `useDocument` →
 * an object (`doc`, `merge`, `replace`, `reset`, `refresh`, `save`,
 * `remove`, `submit`, `hydrated`) that is also the tuple `[doc, updateDoc,
 * save, remove, reset, refresh]`; `useAllDocs` and `useChanges` →
 * `{ docs, rows, hydrated }`.
 *
 * Underneath are `@hearth/react`'s hooks, so results update from each
 * change instead of running the query again (Fireproof's hooks re-query
 * on every write), never show a stale result, and see writes that arrive
 * by sync. `useDocument` also says when the document changed elsewhere
 * while it had edits (`changedElsewhere`, `conflicts`: additions).
 *
 * As in use-fireproof, the database is never closed by the hook (it lives
 * as long as the page); `config.attach` (a Hearth sync point URL or remote)
 * is attached while the component is mounted.
 *
 * @module
 */
import { useEffect, useMemo, useState } from "react";
import type { Attachment, Clock, Ledger } from "@hearth/core";
import { allDocsOptions, fireproof, queryOptions, toFireproofDoc, type AllDocsQueryOpts, type Attachable, type ChangesOptions, type ConfigOpts, type Database, type DocResponse, type DocSet, type DocWithId, type IndexRow, type MapFn, type QueryOpts } from "@hearth/fireproof";
import { useAllDocs as useHearthAllDocs, useChanges as useHearthChanges, useDocument as useHearthDocument, useLiveQuery as useHearthLiveQuery } from "@hearth/react";

/** Options of {@link useFireproof}: `fireproof()`'s, and a sync point to attach to. */
export interface UseFPConfig extends ConfigOpts {
  attach?: Attachable;
}

/** Where attaching `config.attach` is. */
export interface AttachState {
  readonly state: "initial" | "attaching" | "attached" | "error";
  readonly attached?: Attachment;
  readonly error?: Error;
}

/** What `useLiveQuery` returns. */
export interface LiveQueryResult<T extends object = Record<string, unknown>> {
  readonly rows: Array<IndexRow<never, T>>;
  readonly docs: Array<DocWithId<T>>;
  readonly hydrated: boolean;
}

/** What `useAllDocs` and `useChanges` return. */
export interface AllDocsResult<T extends object = Record<string, unknown>> {
  readonly docs: Array<DocWithId<T>>;
  readonly rows: Array<{ key: string; value: DocWithId<T> }>;
  readonly hydrated: boolean;
}

/** Fireproof's name for the result of `useChanges`. */
export type ChangesResult<T extends object = Record<string, unknown>> = AllDocsResult<T>;

/** `updateDoc(newDoc?, { replace?, reset? })`: merge (or replace) the draft; with no document, refresh (or reset). */
export type UpdateDocFn<T extends object> = (newDoc?: DocSet<T>, options?: { replace?: boolean; reset?: boolean }) => void;

/** `useDocument`'s result as an object. */
export interface UseDocumentResultObject<T extends object> {
  readonly doc: DocSet<T>;
  readonly hydrated: boolean;
  merge(patch: Partial<DocSet<T>>): void;
  replace(doc: DocSet<T>): void;
  reset(): void;
  refresh(): Promise<void>;
  save(existing?: DocSet<T>): Promise<DocResponse>;
  remove(existing?: DocWithId<T>): Promise<DocResponse>;
  submit(event?: { preventDefault?: () => void }): Promise<void>;
  /** Hearth's addition: the stored version written elsewhere while the draft had edits (`null`: deleted there). */
  readonly changedElsewhere: DocWithId<T> | null | undefined;
  /** Hearth's addition: the concurrent versions that lost to the stored one. */
  readonly conflicts: ReadonlyArray<DocWithId<T>>;
}

/** `useDocument`'s result as a tuple. */
export type UseDocumentResultTuple<T extends object> = readonly [
  DocSet<T>,
  UpdateDocFn<T>,
  (existing?: DocSet<T>) => Promise<DocResponse>,
  (existing?: DocWithId<T>) => Promise<DocResponse>,
  () => void,
  () => Promise<void>,
];

/** Both at once, as in use-fireproof. */
export type UseDocumentResult<T extends object> = UseDocumentResultObject<T> & UseDocumentResultTuple<T>;

/** What {@link useFireproof} returns. */
export interface UseFireproof {
  readonly database: Database;
  useLiveQuery<T extends object = Record<string, unknown>>(mapFn: string | MapFn<T>, query?: QueryOpts, initialRows?: Array<IndexRow<never, T>>): LiveQueryResult<T>;
  useDocument<T extends object = Record<string, unknown>>(initialDocOrFn?: DocSet<T> | (() => DocSet<T>)): UseDocumentResult<T>;
  useAllDocs<T extends object = Record<string, unknown>>(query?: AllDocsQueryOpts): AllDocsResult<T>;
  useChanges<T extends object = Record<string, unknown>>(since?: Clock, options?: ChangesOptions): ChangesResult<T>;
  readonly attach: AttachState;
}

/**
 * The database `nameOrDb` (a name opens it with `fireproof(name, config)`)
 * and the hooks bound to it.
 *
 * @example
 * ```tsx
 * const { useLiveQuery, useDocument } = useFireproof("todos");
 * const { docs } = useLiveQuery("done", { key: false });
 * const { doc, merge, submit } = useDocument({ text: "", done: false });
 * ```
 */
export function useFireproof(nameOrDb: string | Database = "useFireproof", config: UseFPConfig = {}): UseFireproof {
  const { attach: target, ...fpConfig } = config;
  const configKey = JSON.stringify(fpConfig);
  const database = useMemo(
    () => (typeof nameOrDb === "string" ? fireproof(nameOrDb, fpConfig) : nameOrDb),
    [nameOrDb, configKey], // a new database for a new name or config, as use-fireproof does
  );
  const [ledger, setLedger] = useState<Ledger | undefined>(undefined);
  useEffect(() => {
    let active = true;
    setLedger(undefined);
    database.hearth().then((l) => active && setLedger(l), () => undefined);
    return () => {
      active = false;
    };
  }, [database]);
  const [attach, setAttach] = useState<AttachState>({ state: "initial" });
  const targetKey = typeof target === "string" ? target : target === undefined ? "" : target.url;
  useEffect(() => {
    if (ledger === undefined || target === undefined) return;
    let active = true;
    let attached: Attachment | undefined;
    setAttach({ state: "attaching" });
    ledger.attach(target).then(
      (a) => {
        attached = a;
        if (active) setAttach({ state: "attached", attached: a });
        else void a.detach();
      },
      (error: Error) => active && setAttach({ state: "error", error }),
    );
    return () => {
      active = false;
      void attached?.detach();
    };
  }, [ledger, targetKey]); // the target counts by its URL
  return useMemo(() => hooksFor(database, ledger, attach), [database, ledger, attach]);
}

function hooksFor(database: Database, ledger: Ledger | undefined, attach: AttachState): UseFireproof {
  return {
    database,
    attach,
    useLiveQuery: <T extends object>(mapFn: string | MapFn<T>, query: QueryOpts = {}, initialRows: Array<IndexRow<never, T>> = []) => {
      const live = useHearthLiveQuery(ledger, mapFn as never, { ...queryOptions(query), includeDocs: true });
      return useMemo(() => {
        if (!live.hydrated && initialRows.length > 0) return { rows: initialRows, docs: initialRows.flatMap((r) => (r.doc ? [r.doc] : [])), hydrated: false };
        const rows = live.rows.map((r) => ({ id: r.id, key: r.key as never, value: r.value, ...(r.doc && { doc: toFireproofDoc(r.doc) as DocWithId<T> }) }));
        return { rows, docs: rows.flatMap((r) => (r.doc ? [r.doc] : [])), hydrated: live.hydrated && !live.loading };
      }, [live.rows, live.hydrated, live.loading]); // initialRows count only before the first result
    },
    useDocument: <T extends object>(initialDocOrFn?: DocSet<T> | (() => DocSet<T>)) => {
      const [initial] = useState(() => (typeof initialDocOrFn === "function" ? initialDocOrFn() : (initialDocOrFn ?? ({} as DocSet<T>))));
      const h = useHearthDocument(ledger, initial as Record<string, unknown>);
      const save = async (existing?: DocSet<T>): Promise<DocResponse> => {
        if (existing) return database.put(existing);
        if (ledger === undefined) {
          // Not open yet (the first moments after mount): Fireproof's save waits for the
          // database, so this one writes through it; the draft takes the id it got.
          const response = await database.put(h.doc as DocSet<T>);
          h.replace({ ...h.doc, _id: response.id });
          return response;
        }
        const { id, clock } = await h.save();
        return { id, clock, name: database.name };
      };
      const remove = async (existing?: DocWithId<T>): Promise<DocResponse> => {
        const id = existing?._id ?? (h.doc._id as string | undefined);
        if (!id) throw new Error("Document not found");
        const result = await database.del(id);
        h.reset();
        return result;
      };
      const updateDoc: UpdateDocFn<T> = (newDoc, options = {}) => {
        if (newDoc === undefined) return options.reset ? h.reset() : void h.refresh();
        if (options.replace) h.replace(newDoc as Record<string, unknown>);
        else h.merge(newDoc as Record<string, unknown>);
      };
      const object: UseDocumentResultObject<T> = {
        doc: h.doc as DocSet<T>,
        hydrated: h.hydrated,
        merge: (patch) => h.merge(patch as Record<string, unknown>),
        replace: (doc) => h.replace(doc as Record<string, unknown>),
        reset: () => h.reset(),
        refresh: () => h.refresh(),
        save,
        remove,
        submit: async (event) => {
          event?.preventDefault?.();
          await save();
          h.reset();
        },
        changedElsewhere: h.changedElsewhere as DocWithId<T> | null | undefined,
        conflicts: h.conflicts as unknown as ReadonlyArray<DocWithId<T>>,
      };
      return Object.assign([object.doc, updateDoc, save, remove, object.reset, object.refresh] as const, object) as unknown as UseDocumentResult<T>;
    },
    useAllDocs: <T extends object>(query: AllDocsQueryOpts = {}) => {
      const all = useHearthAllDocs(ledger, allDocsOptions(query));
      return useMemo(() => {
        const rows = all.rows.map((r) => ({ key: r.key, value: toFireproofDoc(r.value) as DocWithId<T> }));
        return { rows, docs: rows.map((r) => r.value), hydrated: all.hydrated && !all.loading };
      }, [all.rows, all.hydrated, all.loading]);
    },
    useChanges: <T extends object>(since: Clock = [], options: ChangesOptions = {}) => {
      const changes = useHearthChanges(ledger, since);
      return useMemo(() => {
        const limited = options.limit !== undefined && options.limit >= 0 ? changes.rows.slice(Math.max(0, changes.rows.length - options.limit)) : changes.rows;
        const rows = limited.map((r) => ({ key: r.key, value: toFireproofDoc(r.value) as DocWithId<T> }));
        return { rows, docs: rows.map((r) => r.value), hydrated: changes.hydrated };
      }, [changes.rows, changes.hydrated, options.limit]);
    },
  };
}
