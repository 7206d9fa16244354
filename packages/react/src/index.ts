/**
 * `@hearth/react`: React hooks for Hearth.
 *
 * ```tsx
 * import { useLedger } from "@hearth/react";
 *
 * function Todos() {
 *   const { useLiveQuery, useDocument, useSyncStatus } = useLedger("todos");
 *   const { docs } = useLiveQuery("done", { key: false });
 *   const draft = useDocument({ title: "", done: false });
 *   const { text } = useSyncStatus();
 *   …
 * }
 * ```
 *
 * Every hook is also exported on its own, taking the ledger (or the
 * attachment) as its first argument, for apps that open ledgers themselves.
 * Works with React 18 and 19, StrictMode, and server rendering (nothing
 * touches storage until an effect runs).
 *
 * @module
 */
export { useLedger, type UseLedgerOptions, type LedgerHooks } from "./use-ledger.js";
export { useLiveQuery, type UseLiveQueryOptions, type LiveQueryState } from "./use-live-query.js";
export { useDocument, type DocumentHandle } from "./use-document.js";
export { useAllDocs, type AllDocsState } from "./use-all-docs.js";
export { useChanges, type ChangesState } from "./use-changes.js";
export { useSyncStatus, type SyncStatusState } from "./use-sync-status.js";
export { useMembers, type MembersState } from "./use-members.js";
export { describeSync, type SyncWords, type SyncTone } from "./sync-words.js";
export { documentReducer, initialDocumentState, type DocumentState, type DocumentEvent, type DocumentPhase, type Draft } from "./document-state.js";
