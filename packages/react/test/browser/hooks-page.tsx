/**
 * The hooks' test page: each case renders components into the page (React
 * 19, or 18 through the runner's alias), drives them against real
 * IndexedDB ledgers, and reads the DOM with Testing Library's queries.
 *
 * Rendering goes through `createRoot` rather than Testing Library's
 * `render`, and the page is not an "act environment": the hooks update
 * from the ledger's own asynchronous notifications, as in an app, so every
 * assertion waits (`waitFor`) for what the DOM shows instead of relying on
 * `act` to flush (which would warn, or race, for updates it cannot see).
 *
 * @module
 */
import { StrictMode, Suspense, useState, version as reactVersion, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";
import { flushSync } from "react-dom";
import { screen, waitFor } from "@testing-library/react";
import { fireEvent } from "@testing-library/dom";
import { HearthError, open, openMemoryRemote, type Ledger, type Remote } from "@hearth/core";
import { useAllDocs, useChanges, useDocument, useLedger, useLiveQuery, type DocumentHandle } from "../../src/index.js";
import { check, runCases, type PageCase } from "../../../core/test/browser/page-cases.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

const WAIT = { timeout: 10_000 };
let counter = 0;
const unique = (what: string): string => `${what}-${Date.now()}-${++counter}`;

/** Renders `ui` into a fresh container; returns the root (unmount it at the end). */
function mount(ui: ReactNode): Root {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  flushSync(() => root.render(ui));
  return root;
}

function unmount(root: Root): void {
  flushSync(() => root.unmount());
  document.body.replaceChildren();
}

/** Proves every handle on `name` is closed: destroy() is LOCKED while another handle is open. */
async function expectAllClosed(name: string): Promise<void> {
  await waitFor(async () => {
    const db = await open(name);
    try {
      await db.destroy();
    } catch (err) {
      await db.close();
      throw err;
    }
  }, WAIT);
}

/** A remote that fails every call (`STORAGE_FAILED`) while `down` is set: a network outage. */
function switchable(inner: Remote): { remote: Remote; down: boolean } {
  const state = { down: false, remote: inner };
  state.remote = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function" || prop === "watch") return typeof value === "function" ? value.bind(target) : value;
      return (...args: unknown[]) =>
        state.down ? Promise.reject(new HearthError("STORAGE_FAILED", "the network is down (test)")) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return state;
}

// ------------------------------------------------------------------ components

function List({ name, where, onDb }: { name: string; where: string; onDb?: (db: Ledger) => void }): ReactNode {
  const { db, useLiveQuery: live } = useLedger(name);
  if (db && onDb) onDb(db);
  const { docs, loading } = live("list", { key: where });
  return (
    <ul data-testid={`list-${name}`} data-loading={String(loading)}>
      {docs.map((d) => (
        <li key={d._id}>{String(d.title)}</li>
      ))}
    </ul>
  );
}

/** Every render's (where, loading, titles), for the never-stale case. */
const renders: Array<{ where: string; loading: boolean; titles: string[] }> = [];
let setWhere: (where: string) => void = () => undefined;

function Switching({ db }: { db: Ledger }): ReactNode {
  const [where, set] = useState("a");
  setWhere = set;
  const { docs, loading, hydrated } = useLiveQuery(db, "list", { key: where });
  if (hydrated) renders.push({ where, loading, titles: docs.map((d) => String(d.title)) });
  return <p data-testid="switching">{`${where}:${loading}:${docs.map((d) => String(d.title)).join(",")}`}</p>;
}

let editor: DocumentHandle<{ title?: string }> | undefined;

function Editor({ db, id }: { db: Ledger; id: string }): ReactNode {
  const handle = useDocument<{ title?: string }>(db, id);
  editor = handle;
  return (
    <form>
      <input aria-label="title" value={String(handle.doc.title ?? "")} onChange={(e) => handle.merge({ title: e.target.value })} />
      <output data-testid="state">{`${handle.phase}|dirty:${handle.dirty}|elsewhere:${handle.changedElsewhere === undefined ? "-" : String(handle.changedElsewhere?.title ?? "deleted")}|conflicts:${handle.conflicts.length}`}</output>
    </form>
  );
}

function Status({ name, remote }: { name: string; remote: Remote }): ReactNode {
  const { useSyncStatus, useMembers } = useLedger(name, { attach: remote });
  const { text, tone } = useSyncStatus();
  const { members } = useMembers();
  return (
    <p data-testid="status" data-tone={tone}>
      {`${text} | members:${members.map((m) => m.role).join(",")}`}
    </p>
  );
}

function Feeds({ db }: { db: Ledger }): ReactNode {
  const all = useAllDocs(db, { prefix: "f" });
  const changes = useChanges(db);
  return (
    <>
      <p data-testid="all">{all.docs.map((d) => d._id).join(",")}</p>
      <p data-testid="changes">{changes.docs.map((d) => `${d._id}${"_deleted" in d ? "(deleted)" : ""}`).join(",")}</p>
    </>
  );
}

function Suspended({ db }: { db: Ledger }): ReactNode {
  const { docs } = useLiveQuery(db, "list", { key: "s", suspense: true });
  return <p data-testid="suspended">{docs.map((d) => String(d.title)).join(",") || "(none)"}</p>;
}

// ------------------------------------------------------------------ cases

const CASES: PageCase[] = [
  {
    name: `the page runs React ${reactVersion}`,
    run: async () => check(/^1[89]\./.test(reactVersion), `React 18 or 19, got ${reactVersion}`),
  },
  {
    name: "useLedger + useLiveQuery (StrictMode): rows appear and update; two components of one name share the ledger; unmount closes every handle",
    run: async () => {
      const name = unique("todos");
      let db: Ledger | undefined;
      const root = mount(
        <StrictMode>
          <List name={name} where="a" onDb={(d) => (db = d)} />
          <List name={name} where="a" />
        </StrictMode>,
      );
      await waitFor(() => check(db !== undefined, "the ledger to open"), WAIT);
      await db!.bulk([{ _id: "1", list: "a", title: "milk" }, { _id: "2", list: "b", title: "tea" }]);
      await waitFor(() => check(screen.getAllByText("milk").length === 2, "both lists to show milk"), WAIT);
      await db!.put({ _id: "3", list: "a", title: "bread" });
      await db!.del("1");
      await waitFor(() => {
        const lists = screen.getAllByTestId(`list-${name}`);
        check(lists.every((l) => l.textContent === "bread"), `both lists to show only bread, got ${lists.map((l) => l.textContent).join(" / ")}`);
      }, WAIT);
      unmount(root);
      await expectAllClosed(name);
    },
  },
  {
    name: "useLiveQuery never shows a result for old options, and keeps the previous rows while new ones load (no flash)",
    run: async () => {
      const db = await open(unique("switch"));
      try {
        await db.bulk([
          { _id: "a1", list: "a", title: "A1" },
          { _id: "b1", list: "b", title: "B1" },
          { _id: "b2", list: "b", title: "B2" },
        ]);
        renders.length = 0;
        const root = mount(<Switching db={db} />);
        await waitFor(() => check(screen.getByTestId("switching").textContent === "a:false:A1", "a's rows"), WAIT);
        for (const w of ["b", "a", "b", "a", "b"]) flushSync(() => setWhere(w));
        await waitFor(() => check(screen.getByTestId("switching").textContent === "b:false:B1,B2", "b's rows at the end"), WAIT);
        for (const r of renders) {
          const expected = r.where === "a" ? ["A1"] : ["B1", "B2"];
          if (!r.loading) check(JSON.stringify(r.titles) === JSON.stringify(expected), `a settled render for ${r.where} showed ${r.titles.join(",")}`);
          else check(r.titles.length > 0, `a loading render for ${r.where} flashed an empty list`);
        }
        unmount(root);
      } finally {
        await db.close();
      }
    },
  },
  {
    name: "useDocument: edits stay when the document changes elsewhere (changedElsewhere), save keeps them, refresh takes the other; conflicts are listed",
    run: async () => {
      const name = unique("doc");
      const db = await open(name);
      const elsewhere = await open(name); // another handle, as another tab's writes would arrive
      try {
        await db.put({ _id: "n1", title: "one" });
        const root = mount(<Editor db={db} id="n1" />);
        const input = (): HTMLInputElement => screen.getByLabelText("title");
        const state = (): string => screen.getByTestId("state").textContent ?? "";
        await waitFor(() => check(input().value === "one", "the stored title"), WAIT);
        fireEvent.change(input(), { target: { value: "mine" } });
        await waitFor(() => check(state().startsWith("dirty|dirty:true|elsewhere:-"), `dirty, got ${state()}`), WAIT);
        await elsewhere.put({ _id: "n1", title: "theirs" });
        await waitFor(() => check(state().includes("elsewhere:theirs"), `the change elsewhere noted, got ${state()}`), WAIT);
        check(input().value === "mine", "the edits stay on screen");
        await editor!.save();
        await waitFor(() => check(state() === "clean|dirty:false|elsewhere:-|conflicts:0", `saved, got ${state()}`), WAIT);
        check((await db.get("n1")).title === "mine", "the save is the newer write");
        await elsewhere.put({ _id: "n1", title: "theirs again" });
        await waitFor(() => check(input().value === "theirs again", "a clean form shows a change elsewhere at once"), WAIT);
        fireEvent.change(input(), { target: { value: "draft" } });
        await elsewhere.put({ _id: "n1", title: "third" });
        await waitFor(() => check(state().includes("elsewhere:third"), `noted again, got ${state()}`), WAIT);
        await editor!.refresh();
        await waitFor(() => check(input().value === "third" && state().startsWith("clean"), `refresh took theirs, got ${input().value} ${state()}`), WAIT);
        // A concurrent write from another replica (its own store and keyring): a conflict.
        const other = await open(unique("other"), { store: `memory://${unique("other")}` });
        await other.put({ _id: "n1", title: "concurrent" });
        await db.ingest(await Promise.all(other.heads().map((cid) => other.eventBlock(cid))));
        await waitFor(() => check(state().endsWith("conflicts:1"), `the conflict listed, got ${state()}`), WAIT);
        await other.close();
        unmount(root);
      } finally {
        await elsewhere.close();
        await db.close();
      }
    },
  },
  {
    name: "useSyncStatus in words (saved here, synced, offline with changes waiting, synced again) and useMembers",
    run: async () => {
      const name = unique("status");
      const network = switchable(await openMemoryRemote(`memory://${unique("point")}`));
      const root = mount(<Status name={name} remote={network.remote} />);
      const status = (): string => screen.getByTestId("status").textContent ?? "";
      await waitFor(() => check(status() === "synced | members:admin", `synced with one admin, got ${status()}`), WAIT);
      network.down = true;
      const db = await open(name); // another handle on the same ledger writes
      await db.put({ _id: "while-offline" });
      await waitFor(() => check(status().startsWith("offline, 1 change waiting"), `offline with the change waiting, got ${status()}`), WAIT);
      check(screen.getByTestId("status").dataset.tone === "warn", "offline is a warning");
      network.down = false;
      await waitFor(() => check(status().startsWith("synced"), `synced again, got ${status()}`), { timeout: 30_000 });
      await db.close();
      unmount(root);
      await expectAllClosed(name);
    },
  },
  {
    name: "useAllDocs and useChanges follow writes and deletes",
    run: async () => {
      const db = await open(unique("feeds"));
      try {
        for (const id of ["f2", "x", "f1"]) await db.put({ _id: id });
        const root = mount(<Feeds db={db} />);
        await waitFor(() => check(screen.getByTestId("all").textContent === "f1,f2", "allDocs by id, prefix f"), WAIT);
        await waitFor(() => check(screen.getByTestId("changes").textContent === "f2,x,f1", `changes in change order, got ${screen.getByTestId("changes").textContent}`), WAIT);
        await db.del("f2");
        await db.put({ _id: "f0" });
        await waitFor(() => check(screen.getByTestId("all").textContent === "f0,f1", `allDocs after, got ${screen.getByTestId("all").textContent}`), WAIT);
        await waitFor(() => check(screen.getByTestId("changes").textContent === "x,f1,f2(deleted),f0", `changes after, got ${screen.getByTestId("changes").textContent}`), WAIT);
        unmount(root);
      } finally {
        await db.close();
      }
    },
  },
  {
    name: "useLiveQuery with suspense: the fallback until the first result, then live rows",
    run: async () => {
      const db = await open(unique("suspense"));
      try {
        await db.put({ _id: "s1", list: "s", title: "first" });
        const root = mount(
          <Suspense fallback={<p data-testid="fallback">waiting</p>}>
            <Suspended db={db} />
          </Suspense>,
        );
        await waitFor(() => check(screen.getByTestId("suspended").textContent === "first", "the first result after suspending"), WAIT);
        await db.put({ _id: "s2", list: "s", title: "second" });
        await waitFor(() => check(screen.getByTestId("suspended").textContent === "first,second", "live after"), WAIT);
        unmount(root);
      } finally {
        await db.close();
      }
    },
  },
];

void runCases(CASES, () => document.body.replaceChildren());
