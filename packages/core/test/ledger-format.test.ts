import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { decode } from "@ipld/dag-cbor";
import { afterEach, describe, expect, it } from "vitest";
import { fanoutBitsOf, ProllyTree } from "../src/crdt/prolly.js";
import { HearthError } from "../src/errors.js";
import { open, openEncryptedStore, openFileKeyring, openFileStore } from "../src/index.node.js";
import type { Ledger } from "../src/ledger/ledger.js";
import { openLedger } from "../src/ledger/open.js";
import { nodePlatform } from "../src/platform/node.js";
import type { ByteStore } from "../src/store/types.js";
import { pushEvents } from "./helpers/replicate.js";
import { describeIndex, Indexes, type MapFn } from "../src/ledger/indexes.js";
import { META_KEY } from "../src/ledger/keys.js";
import { NodeCache } from "../src/ledger/node-cache.js";
import { encodeCheckpoint, LARGE_LOCAL_TAG, LEGACY_STATE_TAG, LedgerState, LOCAL_TAG, STATE_TAG, type Checkpoint } from "../src/ledger/state.js";
import { openMemoryStore } from "../src/store/memory.js";
import { expectCode } from "./helpers/expect-code.js";
import { platformWithWrites } from "./helpers/store-platform.js";

/**
 * A ledger written by the release before trees had fan-outs of their own
 * (ca46b5b): its local tree and its `done` index hold ~32 entries a node
 * under the tags `hearth/local/1` and `hearth/index/1/…`. 300 documents
 * `doc-000` … `doc-299` ({ n, done: n % 3 === 0, title }), then `doc-007`
 * deleted, then `query("done", { key: true })` (100 rows), then closed. The
 * index snapshot (`INDEX`) is left out: it names the file it was made from,
 * so a copy replays its log anyway.
 */
const FIXTURE = fileURLToPath(new URL("./fixtures/legacy-fanout-ledger", import.meta.url));

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * A ledger written before the state tree's fan-out became 64 (03db94b):
 * its state tree holds ~32 entries a node under `hearth/state/1`, and a
 * run of it is waiting to be merged. Written by a script, on the file
 * store: 1,200 documents `id(i)` = `r` + the 8 hex digits of
 * `(i × 2654435761) mod 2³²` ({ n: i, done: i % 3 === 0 }), closed;
 * reopened, 1,100 more writes `id(2i + 1)` ({ n: −i, done: false }: 600
 * rewrites, 500 new), `id(4)` deleted, closed (the close spilled the
 * state's changes into a run: `runs.state` has one). The index snapshot is
 * left out.
 */
const RUNS_FIXTURE = fileURLToPath(new URL("./fixtures/legacy-state-runs-ledger", import.meta.url));

function copyFixture(fixture = FIXTURE): { store: string; keyring: string } {
  dir = mkdtempSync(join(tmpdir(), "hearth-legacy-"));
  cpSync(fixture, dir, { recursive: true });
  return { store: pathToFileURL(join(dir, "store")).href, keyring: pathToFileURL(join(dir, "keyring")).href };
}

/** The tags of the tree nodes in the store of a closed ledger, with how many nodes have each, and its checkpoint's state tag. */
async function storedTrees(): Promise<{ tags: Map<string, number>; stateTag: unknown }> {
  const raw = await openFileStore(join(dir!, "store"));
  const keyring = await openFileKeyring(pathToFileURL(join(dir!, "keyring")).href);
  const store = await openEncryptedStore(raw, keyring, { create: false });
  try {
    const tags = new Map<string, number>();
    for (const key of await store.list("nd/")) {
      const { tag } = decode<{ tag: string }>((await store.get(key))!);
      tags.set(tag, (tags.get(tag) ?? 0) + 1);
    }
    return { tags, stateTag: decode<Checkpoint>((await store.get(META_KEY))!).stateTag };
  } finally {
    await store.close();
    await keyring.close?.();
  }
}

/** The root a ledger of the current layout gets from the same writes as `ledger`: a new replica that takes all of its events. */
async function rootOfReplica(ledger: Ledger): Promise<string> {
  const tag = Math.random();
  const replica = await open("replica", { store: `memory://legacy-replica-${tag}`, keyring: `memory://legacy-replica-keys-${tag}` });
  try {
    await pushEvents(ledger, replica);
    return await replica.root();
  } finally {
    await replica.close();
  }
}

/** The fixture of {@link RUNS_FIXTURE}'s document `i`. */
const runsId = (i: number): string => `r${(Math.imul(i, 2654435761) >>> 0).toString(16).padStart(8, "0")}`;

const isDone = (n: number): boolean => n % 3 === 0;

describe("a ledger written before trees had their own fan-out", () => {
  it("opens, reads, takes writes and keeps its old index and change feed working, across reopens", async () => {
    const urls = copyFixture();
    let db = await open("legacy", urls);
    expect(await db.get("doc-042")).toMatchObject({ _id: "doc-042", n: 42, done: true, title: "legacy 42" });
    await expectCode(db.get("doc-007"), "NOT_FOUND");
    expect((await db.allDocs()).rows).toHaveLength(299);
    // The stored index is reused as it is (a tree of the old tag), not rebuilt.
    expect((await db.query("done", { key: true })).rows).toHaveLength(100);
    expect((await db.changes()).rows).toHaveLength(300);

    // Writes go into the old local tree and the old index tree.
    await db.bulk(Array.from({ length: 1_000 }, (_, n) => ({ _id: `new-${String(n).padStart(4, "0")}`, n, done: isDone(n) })));
    await db.del("doc-000");
    const doneNow = 100 - 1 + 334;
    expect((await db.query("done", { key: true })).rows).toHaveLength(doneNow);
    // A new index is built with the new tag beside the old one.
    const byTen: MapFn = (doc, emit) => {
      if (typeof doc.n === "number") emit(doc.n % 10);
    };
    expect((await db.query(byTen, { index: "by-ten", key: 3 })).rows).toHaveLength(30 + 100);
    await db.close();

    db = await open("legacy", urls);
    expect((await db.query("done", { key: true })).rows).toHaveLength(doneNow);
    expect((await db.query(byTen, { index: "by-ten", key: 3 })).rows).toHaveLength(130);
    const changes = (await db.changes()).rows;
    expect(changes).toHaveLength(1_300);
    expect(changes.at(-1)).toMatchObject({ key: "doc-000", value: { _id: "doc-000", _deleted: true } });
    await db.put({ _id: "doc-299", n: 299, done: true });
    expect((await db.query("done", { key: true })).rows).toHaveLength(doneNow + 1);
    await db.close();
  });
});

describe("a ledger whose state tree has the first layout (32 entries a node)", () => {
  it("is rebuilt under the current layout when opened: the root any replica with the same writes has, the old nodes gone", async () => {
    const urls = copyFixture();
    let db = await open("legacy", urls);
    const root = await db.root();
    expect(await rootOfReplica(db)).toBe(root);
    expect(await db.get("doc-042")).toMatchObject({ _id: "doc-042", n: 42, done: true, title: "legacy 42" });
    await expectCode(db.get("doc-007"), "NOT_FOUND");
    expect((await db.allDocs()).rows).toHaveLength(299);
    expect((await db.query("done", { key: true })).rows).toHaveLength(100);
    await db.close();
    const { tags, stateTag } = await storedTrees();
    expect(stateTag).toBe(STATE_TAG);
    expect(tags.get(LEGACY_STATE_TAG)).toBeUndefined();
    expect(tags.get(STATE_TAG)).toBeGreaterThan(0);

    // Opened again: nothing to rebuild, the same root; writes go on as usual.
    db = await open("legacy", urls);
    expect(await db.root()).toBe(root);
    await db.put({ _id: "doc-300", n: 300, done: true });
    expect(await rootOfReplica(db)).toBe(await db.root());
    await db.close();
  });

  it("with a run of the old layout waiting: every document as it was, the run merged into the new tree and gone", async () => {
    const urls = copyFixture(RUNS_FIXTURE);
    const db = await open("legacy-runs", urls);
    const rows = (await db.allDocs()).rows;
    expect(rows).toHaveLength(1_200 + 500 - 1);
    expect(await db.get(runsId(2))).toMatchObject({ _id: runsId(2), n: 2, done: false });
    expect(await db.get(runsId(3))).toMatchObject({ _id: runsId(3), n: -1, done: false }); // rewritten
    expect(await db.get(runsId(2 * 1_099 + 1))).toMatchObject({ n: -1_099 }); // new in the run
    expect(await db.get(runsId(1_199 - 1))).toMatchObject({ n: 1_198, done: false });
    await expectCode(db.get(runsId(4)), "NOT_FOUND");
    expect(await rootOfReplica(db)).toBe(await db.root());
    await db.close();
    const { tags, stateTag } = await storedTrees();
    expect(stateTag).toBe(STATE_TAG);
    // Neither the old tree's nodes nor its run's (`hearth/state/1/run/<n>`) are left.
    expect([...tags.keys()].filter((tag) => tag.startsWith(LEGACY_STATE_TAG))).toEqual([]);
  });

  it("a rebuild whose checkpoint fails fails the open and leaves the ledger to the next one, which rebuilds it", async () => {
    const urls = copyFixture(RUNS_FIXTURE);
    let failed = 0;
    const platform = platformWithWrites((batch, writeOptions, write) => {
      if (batch.put?.some(([key]) => key === META_KEY)) {
        failed++;
        return Promise.reject(new HearthError("STORAGE_FAILED", "injected: the disk is full"));
      }
      return write(batch, writeOptions);
    });
    await expectCode(openLedger("legacy-runs", urls, platform), "STORAGE_FAILED");
    expect(failed).toBe(1);
    // Nothing recorded the new tree: the checkpoint still names the old one.
    expect((await storedTrees()).stateTag).toBeUndefined();

    const db = await open("legacy-runs", urls);
    expect((await db.allDocs()).rows).toHaveLength(1_699);
    expect(await db.get(runsId(3))).toMatchObject({ n: -1 });
    expect(await rootOfReplica(db)).toBe(await db.root());
    await db.close();
    expect([...(await storedTrees()).tags.keys()].filter((tag) => tag.startsWith(LEGACY_STATE_TAG))).toEqual([]);
  });
});

describe("tree tags in checkpoints", () => {
  it("a new ledger's local tree is made with the wide fan-out", async () => {
    const store = await openMemoryStore(`memory://fanout-${Math.random()}`);
    const state = await LedgerState.load(store, new NodeCache(store));
    expect(state.localTree.tag).toBe(LOCAL_TAG);
    expect(fanoutBitsOf(LOCAL_TAG)).toBe(7);
  });

  it("a ledger made on a store whose records are costly gives its local and index trees bigger nodes, and keeps them on another store", async () => {
    dir = mkdtempSync(join(tmpdir(), "hearth-large-nodes-"));
    const urls = { store: pathToFileURL(join(dir, "store")).href, keyring: pathToFileURL(join(dir, "keyring")).href };
    // As IndexedDB reports itself: ~300 bytes a record (the file store reports nothing).
    const costly = {
      ...nodePlatform,
      async openStore(url: string, options?: Parameters<typeof nodePlatform.openStore>[1]): Promise<ByteStore> {
        const inner = await nodePlatform.openStore(url, options);
        return new Proxy(inner, {
          get(target, property) {
            if (property === "supports") return { ...target.supports, recordOverhead: 300 };
            const value: unknown = Reflect.get(target, property, target);
            return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
    };
    const docs = (from: number, n: number): Array<{ _id: string; n: number; done: boolean }> =>
      Array.from({ length: n }, (_, i) => ({ _id: `doc-${String(from + i).padStart(5, "0")}`, n: from + i, done: (from + i) % 3 === 0 }));
    let db = await openLedger("large", urls, costly);
    await db.bulk(docs(0, 3_000));
    expect((await db.query("done", { key: true })).rows).toHaveLength(1_000);
    await db.close();
    let { tags } = await storedTrees();
    const indexTags = [...tags.keys()].filter((tag) => tag.startsWith("hearth/index/"));
    expect(indexTags.length).toBeGreaterThan(0);
    expect(indexTags.every((tag) => fanoutBitsOf(tag) === 9)).toBe(true);
    expect(tags.get(LARGE_LOCAL_TAG)).toBeGreaterThan(0);
    expect(tags.get(LOCAL_TAG)).toBeUndefined();
    expect(fanoutBitsOf(LARGE_LOCAL_TAG)).toBe(9);

    // On a store that reports no overhead (the ledger moved), the trees keep their tags and take writes.
    db = await open("large", urls);
    await db.bulk(docs(3_000, 3_000));
    expect((await db.query("done", { key: true })).rows).toHaveLength(2_000);
    expect((await db.changes()).rows).toHaveLength(6_000);
    await db.close();
    ({ tags } = await storedTrees());
    expect(tags.get(LOCAL_TAG)).toBeUndefined();
    expect([...tags.keys()].filter((tag) => tag.startsWith("hearth/index/")).every((tag) => fanoutBitsOf(tag) === 9)).toBe(true);
    db = await open("large", urls);
    expect((await db.allDocs()).rows).toHaveLength(6_000);
    expect(await db.get("doc-04500")).toMatchObject({ n: 4_500, done: true });
    await db.close();
  });

  it("a checkpoint naming a local tree tag no Hearth ledger has is INTEGRITY", async () => {
    const store = await openMemoryStore(`memory://fanout-${Math.random()}`);
    const nodes = new NodeCache(store);
    const empty = await ProllyTree.empty("hearth/state/1", nodes);
    const checkpoint: Checkpoint = {
      v: 1, events: 0, seq: 0, lamport: 0, heads: [], state: empty.tree.root, local: empty.tree.root, ix: {}, localTag: "hearth/local/9",
    };
    await store.write({ put: [[META_KEY, encodeCheckpoint(checkpoint)]] });
    await expectCode(LedgerState.load(store, nodes), "INTEGRITY");
  });

  it("a new ledger's state tree is made with the current layout, and a checkpoint naming a state tag no Hearth ledger has is INTEGRITY", async () => {
    const store = await openMemoryStore(`memory://fanout-${Math.random()}`);
    const nodes = new NodeCache(store);
    const state = await LedgerState.load(store, nodes);
    expect(state.stateTree.tag).toBe(STATE_TAG);
    expect(fanoutBitsOf(STATE_TAG)).toBe(6);
    const empty = await ProllyTree.empty(STATE_TAG, nodes);
    nodes.addPending(empty.created);
    const checkpoint: Checkpoint = {
      v: 1, events: 0, seq: 0, lamport: 0, heads: [], state: empty.tree.root, stateTag: "hearth/state/9", local: state.localTree.root, ix: {},
    };
    await store.write({ put: [[META_KEY, encodeCheckpoint(checkpoint)]] });
    await expectCode(LedgerState.load(store, nodes), "INTEGRITY");
  });

  it("an index entry naming a tree tag that is not its own is INTEGRITY", async () => {
    const store = await openMemoryStore(`memory://fanout-${Math.random()}`);
    const nodes = new NodeCache(store);
    const state = await LedgerState.load(store, nodes);
    const other = await ProllyTree.empty("hearth/index/1/000000000000000000000000", nodes);
    nodes.addPending(other.created);
    const indexes = new Indexes(nodes, store, { "field:done": { src: "field:done", seq: 1, root: other.tree.root, tag: other.tree.tag } });
    await expectCode(indexes.ready(describeIndex("done"), state, async () => undefined), "INTEGRITY");
  });
});
