// Server rendering: the hooks render their empty states and touch no storage (no
// ledger is opened: effects never run on the server), on React's own server renderer.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createElement, Fragment, StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useAllDocs, useChanges, useDocument, useLedger, useLiveQuery, useMembers, useSyncStatus } from "../src/index.js";

let dir: string;
let saved: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hearth-ssr-"));
  saved = process.env.HEARTH_DIR;
  process.env.HEARTH_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.HEARTH_DIR;
  else process.env.HEARTH_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

function App(): ReturnType<typeof createElement> {
  const ledger = useLedger("todos", { attach: "memory://ssr-point" });
  const { docs, hydrated, loading } = ledger.useLiveQuery("done", { key: false });
  const draft = ledger.useDocument({ title: "new" });
  const all = ledger.useAllDocs();
  const changes = ledger.useChanges();
  const sync = ledger.useSyncStatus();
  const members = ledger.useMembers();
  // The standalone hooks, with no ledger, too.
  const alone = [useLiveQuery(undefined, "x"), useAllDocs(undefined), useChanges(undefined), useDocument(undefined, "id"), useSyncStatus(undefined), useMembers(undefined)];
  return createElement(
    Fragment,
    null,
    createElement("p", null, `docs:${docs.length} hydrated:${hydrated} loading:${loading} db:${ledger.db === undefined ? "none" : "open"}`),
    createElement("p", null, `draft:${String(draft.doc.title)} ${draft.phase} all:${all.docs.length} changes:${changes.docs.length}`),
    createElement("p", null, `sync:${sync.text} members:${members.members.length} alone:${alone.length}`),
  );
}

describe("server rendering", () => {
  it("renders every hook's empty state, opens nothing and writes nothing", () => {
    const html = renderToString(createElement(StrictMode, null, createElement(App)));
    expect(html).toContain("docs:0 hydrated:false loading:false db:none");
    expect(html).toContain("draft:new clean all:0 changes:0");
    expect(html).toContain("sync:saved on this device members:0 alone:6");
    expect(readdirSync(dir)).toEqual([]); // no ledger, no keyring created under HEARTH_DIR
  });
});
