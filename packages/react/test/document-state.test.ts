// useDocument's state machine (src/document-state.ts), without React.
import { describe, expect, it } from "vitest";
import { documentReducer, initialDocumentState, type DocumentEvent, type DocumentState } from "../src/document-state.js";

const run = (state: DocumentState, ...events: DocumentEvent[]): DocumentState => events.reduce(documentReducer, state);

describe("documentReducer", () => {
  it("a new document is clean at once; saving gives it its id", () => {
    const s = run(initialDocumentState({ title: "" }), { type: "edited", draft: { title: "milk" } });
    expect(s).toMatchObject({ phase: "dirty", id: undefined, draft: { title: "milk" } });
    const saved = run(s, { type: "saving" }, { type: "saved", id: "a1", stored: { _id: "a1", title: "milk" } });
    expect(saved).toMatchObject({ phase: "clean", id: "a1", draft: { _id: "a1", title: "milk" }, changedElsewhere: undefined });
  });

  it("a stored document loads; a change while clean shows at once", () => {
    const s = run(initialDocumentState({ _id: "x" }), { type: "loaded", stored: { _id: "x", v: 1 } }, { type: "changed", stored: { _id: "x", v: 2 } });
    expect(s).toMatchObject({ phase: "clean", draft: { _id: "x", v: 2 }, changedElsewhere: undefined });
  });

  it("a change while dirty keeps the edits and notes the other version (null when deleted); save clears it, refresh takes it", () => {
    const dirty = run(initialDocumentState({ _id: "x" }), { type: "loaded", stored: { _id: "x", v: 1 } }, { type: "edited", draft: { _id: "x", v: 9 } });
    const noted = run(dirty, { type: "changed", stored: { _id: "x", v: 2 } });
    expect(noted).toMatchObject({ phase: "dirty", draft: { v: 9 }, changedElsewhere: { v: 2 } });
    expect(run(dirty, { type: "changed", stored: null }).changedElsewhere).toBeNull();
    expect(run(noted, { type: "saving" }, { type: "saved", id: "x", stored: { _id: "x", v: 9 } })).toMatchObject({ phase: "clean", draft: { v: 9 }, changedElsewhere: undefined });
    expect(run(noted, { type: "refreshed", stored: { _id: "x", v: 2 } })).toMatchObject({ phase: "clean", draft: { v: 2 }, changedElsewhere: undefined });
  });

  it("while saving, the save's own notification is not news from elsewhere; a failed save is dirty again", () => {
    const saving = run(initialDocumentState({ _id: "x" }), { type: "loaded", stored: { _id: "x", v: 1 } }, { type: "edited", draft: { _id: "x", v: 2 } }, { type: "saving" });
    expect(run(saving, { type: "changed", stored: { _id: "x", v: 2 } })).toBe(saving);
    expect(run(saving, { type: "save-failed" }).phase).toBe("dirty");
  });

  it("edits made while loading win over the loaded version; conflicts come from the stored version and never enter the draft", () => {
    const s = run(initialDocumentState({ _id: "x" }), { type: "edited", draft: { _id: "x", v: "mine" } }, { type: "loaded", stored: { _id: "x", v: "stored" } });
    expect(s).toMatchObject({ phase: "dirty", draft: { v: "mine" } });
    const c = run(initialDocumentState({ _id: "y" }), { type: "loaded", stored: { _id: "y", v: 1, _conflicts: [{ _id: "y", v: 0 }] } });
    expect(c.conflicts).toEqual([{ _id: "y", v: 0 }]);
    expect(c.draft).toEqual({ _id: "y", v: 1 });
  });

  it("reset goes back to the initial document (loading again when it names a stored one)", () => {
    const s = run(initialDocumentState({ title: "" }), { type: "edited", draft: { title: "x" } }, { type: "reset", initial: { title: "" } });
    expect(s).toMatchObject({ phase: "clean", id: undefined, draft: { title: "" } });
    expect(run(s, { type: "reset", initial: { _id: "z" } }).phase).toBe("loading");
  });
});
