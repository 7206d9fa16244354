/**
 * `useLedger`: opens a ledger for a component tree, and hands out the
 * hooks bound to it.
 *
 * - Opened in an effect, so server rendering never touches storage
 *   (IndexedDB does not exist there): until it is open, `db` is undefined
 *   and every hook returns its empty state.
 * - Each mount opens its own handle (core shares one ledger per store in a
 *   page, `open` twice is two handles on it) and closes it on unmount, so
 *   StrictMode's mount, unmount, mount is harmless, and two components
 *   that open the same name share one ledger.
 * - `attach` (a sync point URL or remote) is attached once it is open, and
 *   detached with the handle.
 *
 * @module
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { open, type Attachment, type AttachOptions, type AllDocsOptions, type Clock, type HearthError, type Ledger, type MapFn, type OpenOptions, type Remote } from "@hearth/core";
import { stableKey } from "./stable-key.js";
import { useLiveQuery, type LiveQueryState, type UseLiveQueryOptions } from "./use-live-query.js";
import { useDocument, type DocumentHandle } from "./use-document.js";
import { useAllDocs, type AllDocsState } from "./use-all-docs.js";
import { useChanges, type ChangesState } from "./use-changes.js";
import { useSyncStatus, type SyncStatusState } from "./use-sync-status.js";
import { useMembers, type MembersState } from "./use-members.js";
import type { Draft } from "./document-state.js";

/** Options of {@link useLedger}: `open`'s, plus a sync point to attach to. */
export interface UseLedgerOptions extends OpenOptions {
  /** A sync point (URL or remote) to attach to once the ledger is open. */
  attach?: string | Remote;
  /** Options for that attachment (an invitation, a share code, `files`, …). */
  attachOptions?: AttachOptions;
}

/** What {@link useLedger} returns: the ledger, and the hooks bound to it. */
export interface LedgerHooks {
  /** The open ledger (a handle of this mount), or undefined until it is open. */
  readonly db: Ledger | undefined;
  /** The attachment made for `attach`, once made. */
  readonly attachment: Attachment | undefined;
  /** Why opening or attaching failed. */
  readonly error: HearthError | undefined;
  useLiveQuery(spec: string | MapFn, options?: UseLiveQueryOptions): LiveQueryState;
  useDocument<T extends Draft = Draft>(initial: string | T): DocumentHandle<T>;
  useAllDocs(options?: AllDocsOptions): AllDocsState;
  useChanges(since?: Clock): ChangesState;
  useSyncStatus(): SyncStatusState;
  useMembers(): MembersState;
}

/**
 * Opens ledger `name` for as long as the component is mounted.
 *
 * @example
 * ```tsx
 * function Todos() {
 *   const { useLiveQuery, useSyncStatus } = useLedger("todos", { attach: "https://sync.example.com/todos#token=…" });
 *   const { docs } = useLiveQuery("done", { key: false });
 *   const { text } = useSyncStatus();
 *   return <><p>{text}</p><ul>{docs.map((d) => <li key={d._id}>{String(d.title)}</li>)}</ul></>;
 * }
 * ```
 */
export function useLedger(name: string, options: UseLedgerOptions = {}): LedgerHooks {
  const [opened, setOpened] = useState<{ db: Ledger | undefined; attachment: Attachment | undefined; error: HearthError | undefined }>({
    db: undefined,
    attachment: undefined,
    error: undefined,
  });
  const latest = useRef(options);
  latest.current = options;
  // Objects (a keyring, a remote) count once per mount; strings and numbers by value.
  const key = stableKey({
    name,
    store: options.store,
    keyring: typeof options.keyring === "string" ? options.keyring : undefined,
    durability: options.durability,
    cacheBytes: options.cacheBytes,
    attach: typeof options.attach === "string" ? options.attach : undefined,
  });
  useEffect(() => {
    let active = true;
    const { attach, attachOptions, ...openOptions } = latest.current;
    const opening = open(name, openOptions);
    (async () => {
      const db = await opening;
      if (!active) return;
      setOpened({ db, attachment: undefined, error: undefined });
      if (attach === undefined) return;
      try {
        const attachment = await db.attach(attach, attachOptions);
        if (active) setOpened({ db, attachment, error: undefined });
      } catch (error) {
        if (active) setOpened({ db, attachment: undefined, error: error as HearthError });
      }
    })().catch((error: unknown) => active && setOpened({ db: undefined, attachment: undefined, error: error as HearthError }));
    return () => {
      active = false;
      setOpened({ db: undefined, attachment: undefined, error: undefined });
      // This mount's handle closes (an open still on its way, once it lands), detaching what it
      // attached; the ledger stays open for other handles.
      opening.then((db) => db.close()).catch(() => undefined);
    };
  }, [key]); // `name` and every option that counts are in `key`
  const { db, attachment, error } = opened;
  return useMemo(
    () => ({
      db,
      attachment,
      error,
      useLiveQuery: (spec, queryOptions) => useLiveQuery(db, spec, queryOptions),
      useDocument: (initial) => useDocument(db, initial),
      useAllDocs: (allDocsOptions) => useAllDocs(db, allDocsOptions),
      useChanges: (since) => useChanges(db, since),
      useSyncStatus: () => useSyncStatus(attachment ?? db),
      useMembers: () => useMembers(attachment),
    }),
    [db, attachment, error],
  );
}
