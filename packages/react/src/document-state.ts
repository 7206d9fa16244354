/**
 * The state machine behind `useDocument`, as a pure reducer (so it is
 * tested without React).
 *
 * A document being edited has two versions: `stored`, the last one the
 * ledger holds (as this component knows it), and `draft`, what the user
 * sees and edits. States:
 *
 * - `loading`: the stored version is being read.
 * - `clean`: the draft is the stored version (or, for a document not
 *   stored yet, the initial one); a change to the stored version shows at
 *   once.
 * - `dirty`: the user edited the draft. A change to the stored version
 *   made elsewhere (another tab, another device) does not overwrite the
 *   edits: it is kept as `changedElsewhere` (`null` if it was deleted
 *   there), so the app can say so and let the user choose: `save` keeps
 *   the edits (the save is the newer write), `refresh` takes the other.
 * - `saving`: a save is on its way; the change notification it causes is
 *   its own, not news from elsewhere.
 *
 * Before, Fireproof's hook (and most others) dropped one side silently:
 * a remote change overwrote unsaved edits, or the save overwrote the
 * remote change with no sign that it had happened.
 *
 * @module
 */
import type { Doc } from "@hearth/core";

/** A document as edited: perhaps without an `_id` yet. */
export type Draft = { _id?: string } & Record<string, unknown>;

/** See the module docs. */
export type DocumentPhase = "loading" | "clean" | "dirty" | "saving";

/** What the reducer holds. */
export interface DocumentState {
  readonly phase: DocumentPhase;
  /** The document's id, once it has one. */
  readonly id: string | undefined;
  readonly draft: Draft;
  /** The stored version, `null` when there is none (new or deleted). */
  readonly stored: Doc | null;
  /** A stored version written elsewhere while the draft had edits (`null`: deleted there); undefined if none. */
  readonly changedElsewhere: Doc | null | undefined;
  /** The versions that lost to the stored one (`_conflicts`). */
  readonly conflicts: readonly Doc[];
}

/** What happens to it. */
export type DocumentEvent =
  | { readonly type: "loaded"; readonly stored: Doc | null }
  | { readonly type: "edited"; readonly draft: Draft }
  | { readonly type: "changed"; readonly stored: Doc | null }
  | { readonly type: "saving" }
  | { readonly type: "saved"; readonly stored: Doc | null; readonly id: string }
  | { readonly type: "save-failed" }
  | { readonly type: "reset"; readonly initial: Draft }
  | { readonly type: "refreshed"; readonly stored: Doc | null };

/** The state before anything is read: `initial` as the draft. */
export function initialDocumentState(initial: Draft): DocumentState {
  return { phase: initial._id === undefined ? "clean" : "loading", id: initial._id, draft: initial, stored: null, changedElsewhere: undefined, conflicts: [] };
}

/** The next state (see the module docs). */
export function documentReducer(state: DocumentState, event: DocumentEvent): DocumentState {
  switch (event.type) {
    case "loaded":
      // Edits made while loading win over the loaded version.
      if (state.phase === "dirty") return { ...state, stored: event.stored, conflicts: conflictsOf(event.stored) };
      return { ...state, phase: "clean", stored: event.stored, draft: event.stored ? withoutConflicts(event.stored) : state.draft, conflicts: conflictsOf(event.stored) };
    case "edited":
      return { ...state, phase: state.phase === "saving" ? "saving" : "dirty", draft: event.draft };
    case "changed":
      if (state.phase === "saving") return state; // its own write; "saved" reads the result
      if (state.phase === "dirty") return { ...state, stored: event.stored, changedElsewhere: event.stored, conflicts: conflictsOf(event.stored) };
      return { ...state, phase: "clean", stored: event.stored, draft: event.stored ? withoutConflicts(event.stored) : state.draft, conflicts: conflictsOf(event.stored) };
    case "saving":
      return { ...state, phase: "saving" };
    case "saved":
      return {
        ...state,
        phase: "clean",
        id: event.id,
        stored: event.stored,
        draft: event.stored ? withoutConflicts(event.stored) : { ...state.draft, _id: event.id },
        changedElsewhere: undefined,
        conflicts: conflictsOf(event.stored),
      };
    case "save-failed":
      return { ...state, phase: "dirty" };
    case "reset":
      return initialDocumentState(event.initial);
    case "refreshed":
      return { ...state, phase: "clean", stored: event.stored, draft: event.stored ? withoutConflicts(event.stored) : { _id: state.id }, changedElsewhere: undefined, conflicts: conflictsOf(event.stored) };
  }
}

function conflictsOf(doc: Doc | null): readonly Doc[] {
  return doc?._conflicts ?? [];
}

function withoutConflicts(doc: Doc): Draft {
  const { _conflicts: _, ...rest } = doc;
  return rest;
}
