/**
 * The shapes use-fireproof's hooks return, checked the same way against
 * the real `use-fireproof` and against `@hearth/use-fireproof` (the runner
 * bundles this page for both), so the expectations below are Fireproof's
 * own, not ours.
 *
 * @module
 */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { waitFor } from "@testing-library/react";
import { check, runCases } from "../../../core/test/browser/page-cases.js";
import { fireproof, useFireproof } from "use-fireproof";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

function hasKeys(value: object, keys: readonly string[], what: string): void {
  const missing = keys.filter((k) => !(k in value));
  check(missing.length === 0, `${what} lacks ${missing.join(", ")} (has ${Object.keys(value).join(", ")})`);
}

/** What the component saw on its last render. */
let seen: Record<string, unknown> = {};

function Probe({ name }: { name: string }) {
  const fp = useFireproof(name);
  const live = fp.useLiveQuery("n");
  const document = fp.useDocument<{ n: number }>({ n: 1 });
  const all = fp.useAllDocs();
  const changes = fp.useChanges([], {});
  seen = { fp, live, document, all, changes };
  return null;
}

async function run(): Promise<void> {
  const name = `shapes-${Date.now()}`;
  const db = fireproof(name);
  await db.put({ _id: "a", n: 2 });
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  flushSync(() => root.render(<StrictMode><Probe name={name} /></StrictMode>));
  await waitFor(() => check((seen.live as { hydrated?: boolean }).hydrated === true && (seen.live as { docs: unknown[] }).docs.length === 1, "the live query to load"), { timeout: 15_000 });
  const { fp, live, document: doc, all, changes } = seen as Record<string, Record<string, unknown>>;
  hasKeys(fp!, ["database", "useLiveQuery", "useDocument", "useAllDocs", "useChanges", "attach"], "useFireproof()");
  check((fp!.attach as { state: string }).state === "initial", `attach.state initial, got ${(fp!.attach as { state: string }).state}`);
  hasKeys(live!, ["rows", "docs", "hydrated"], "useLiveQuery()");
  hasKeys((live!.rows as object[])[0]!, ["id", "key", "value", "doc"], "a useLiveQuery row");
  hasKeys(doc!, ["doc", "hydrated", "merge", "replace", "reset", "refresh", "save", "remove", "submit"], "useDocument()");
  const [d, updateDoc, save, remove, reset, refresh] = doc as unknown as unknown[];
  check(JSON.stringify(d) === JSON.stringify(doc!.doc), "useDocument()[0] is the doc (Fireproof hands out copies)");
  check([updateDoc, save, remove, reset, refresh].every((f) => typeof f === "function"), "useDocument()[1..5] are functions");
  hasKeys(all!, ["docs", "hydrated"], "useAllDocs()");
  hasKeys(changes!, ["docs", "hydrated"], "useChanges()");
  const put = await db.put({ _id: "b", n: 3 });
  hasKeys(put, ["id", "clock", "name"], "put()");
  const bulk = await db.bulk([{ _id: "c", n: 4 }]);
  hasKeys(bulk, ["ids", "clock", "name"], "bulk()");
  hasKeys(await db.allDocs(), ["rows", "clock", "name"], "allDocs()");
  hasKeys(await db.changes([]), ["rows", "clock", "name"], "changes()");
  hasKeys(await db.query("n"), ["rows", "docs"], "query()");
  check(!("docs" in (await db.query("n", { includeDocs: false }))), "query(…, { includeDocs: false }) has no docs");
  const missing = await db.get("nope").catch((e: unknown) => e);
  check((missing as { code?: string }).code === "ENOENT" && /Not found/.test((missing as Error).message), `get of a missing doc: ENOENT "Not found", got ${String(missing)}`);
  flushSync(() => root.unmount());
  await db.close();
}

void runCases([{ name: "the shapes of useFireproof, its hooks and the database calls", run }]);
