/**
 * `useDocument`: one document as a form edits it, with its conflicts, and
 * told when it changes elsewhere while the user has unsaved edits (the
 * state machine is `./document-state.ts`).
 *
 * @module
 */
import { useCallback, useEffect, useReducer, useRef } from "react";
import { isHearthError, type Doc, type DocInput, type Ledger, type WriteResult } from "@hearth/core";
import { documentReducer, initialDocumentState, type DocumentPhase, type Draft } from "./document-state.js";
import { stableKey } from "./stable-key.js";

/** What {@link useDocument} returns. */
export interface DocumentHandle<T extends Draft = Draft> {
  /** The document as edited (the draft). */
  readonly doc: T;
  readonly phase: DocumentPhase;
  /** True once the stored version was read (at once for a new document). */
  readonly hydrated: boolean;
  /** True while the draft has edits not saved. */
  readonly dirty: boolean;
  /** The versions that lost to the stored one (concurrent writes elsewhere); resolve by saving the version you want. */
  readonly conflicts: readonly Doc[];
  /**
   * The stored version written elsewhere while the draft had edits (`null`:
   * deleted there), or `undefined`. `save()` keeps the edits; `refresh()`
   * takes that version.
   */
  readonly changedElsewhere: Doc | null | undefined;
  /** Changes some fields of the draft. */
  merge(patch: Partial<T>): void;
  /** Replaces the draft. */
  replace(doc: T): void;
  /** Writes the draft (with `patch` merged first); the document gets its id here if it had none. */
  save(patch?: Partial<T>): Promise<WriteResult>;
  /** Deletes the document and goes back to the initial draft. */
  remove(): Promise<void>;
  /** Drops the edits: back to the stored version (or the initial draft if none is stored). */
  discard(): void;
  /** Back to the initial document, as at mount (a new-document form: ready for the next one). */
  reset(): void;
  /** Reads the stored version again, dropping edits (takes the version written elsewhere). */
  refresh(): Promise<void>;
}

/**
 * One document, by id or from an initial draft (a new document until saved).
 *
 * @example
 * ```tsx
 * const todo = useDocument(db, { text: "", done: false });
 * <input value={todo.doc.text} onChange={(e) => todo.merge({ text: e.target.value })} />
 * <button onClick={() => todo.save().then(todo.reset)}>Add</button>
 * {todo.changedElsewhere !== undefined && <p>Changed on another device. <button onClick={todo.refresh}>Show theirs</button></p>}
 * ```
 */
export function useDocument<T extends Draft = Draft>(db: Ledger | undefined, initial: string | T): DocumentHandle<T> {
  const initialDraft: Draft = typeof initial === "string" ? { _id: initial } : initial;
  const initialKey = stableKey(initialDraft);
  const initialRef = useRef(initialDraft);
  const [state, dispatch] = useReducer(documentReducer, initialDraft, initialDocumentState);
  const stateRef = useRef(state);
  stateRef.current = state;
  // The draft as of the last edit, even before React renders it: merge(); save() in one handler saves the merge.
  const draftRef = useRef(state.draft);
  draftRef.current = state.draft;
  const id = state.id;
  const edit = (draft: Draft): void => {
    draftRef.current = draft;
    dispatch({ type: "edited", draft });
  };


  // A new initial document (another id, another template): start again from it.
  const mountedKey = useRef(initialKey);
  useEffect(() => {
    if (mountedKey.current === initialKey) return;
    mountedKey.current = initialKey;
    initialRef.current = initialDraft;
    dispatch({ type: "reset", initial: initialDraft });
  });

  // Reads of the stored version are numbered: only the latest one counts (a read started before
  // a save must not land after it with the version the save replaced).
  const reads = useRef(0);
  const read = useCallback(async (docId: string): Promise<{ stored: Doc | null; latest: boolean }> => {
    const ticket = ++reads.current;
    let stored: Doc | null = null;
    if (db !== undefined) {
      try {
        stored = await db.get(docId, { conflicts: true });
      } catch (err) {
        if (!isHearthError(err, "NOT_FOUND")) throw err;
      }
    }
    return { stored, latest: ticket === reads.current };
  }, [db]);

  // Every change of the stored version (here or elsewhere) is read again.
  useEffect(() => {
    if (db === undefined || id === undefined) return;
    let active = true;
    const unsubscribe = db.subscribe((docs) => {
      if (!docs.some((d) => d._id === id)) return;
      read(id).then(({ stored, latest }) => active && latest && dispatch({ type: "changed", stored }), () => undefined);
    });
    return () => {
      active = false;
      unsubscribe();
    };
  }, [db, id, read]);

  // The first read (and again after a reset to a stored document).
  const loading = state.phase === "loading";
  useEffect(() => {
    if (db === undefined || id === undefined || !loading) return;
    let active = true;
    read(id).then(({ stored, latest }) => active && latest && dispatch({ type: "loaded", stored }), () => undefined);
    return () => {
      active = false;
    };
  }, [db, id, loading, read]);

  const save = useCallback(async (patch?: Partial<T>): Promise<WriteResult> => {
    if (db === undefined) throw new Error("useDocument: the ledger is not open yet");
    const draft = patch ? { ...draftRef.current, ...patch } : draftRef.current;
    if (patch) edit(draft);
    dispatch({ type: "saving" });
    try {
      const result = await db.put(draft as DocInput);
      dispatch({ type: "saved", stored: (await read(result.id)).stored, id: result.id });
      return result;
    } catch (err) {
      dispatch({ type: "save-failed" });
      throw err;
    }
  }, [db, read]);

  const remove = useCallback(async (): Promise<void> => {
    const docId = stateRef.current.id;
    if (db !== undefined && docId !== undefined) await db.del(docId);
    dispatch({ type: "reset", initial: initialRef.current });
  }, [db]);

  const refresh = useCallback(async (): Promise<void> => {
    const docId = stateRef.current.id;
    if (docId !== undefined) dispatch({ type: "refreshed", stored: (await read(docId)).stored });
  }, [read]);

  return {
    doc: state.draft as T,
    phase: state.phase,
    hydrated: state.phase !== "loading",
    dirty: state.phase === "dirty",
    conflicts: state.conflicts,
    changedElsewhere: state.changedElsewhere,
    merge: (patch) => edit({ ...draftRef.current, ...patch }),
    replace: (doc) => edit({ ...doc, ...(stateRef.current.id !== undefined && doc._id === undefined && { _id: stateRef.current.id }) }),
    save,
    remove,
    discard: () => {
      const { stored } = stateRef.current;
      if (stored) dispatch({ type: "refreshed", stored });
      else dispatch({ type: "reset", initial: initialRef.current });
    },
    reset: () => dispatch({ type: "reset", initial: initialRef.current }),
    refresh,
  };
}
