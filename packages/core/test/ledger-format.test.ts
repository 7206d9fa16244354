import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { fanoutBitsOf, ProllyTree } from "../src/crdt/prolly.js";
import { open } from "../src/index.node.js";
import { describeIndex, Indexes, type MapFn } from "../src/ledger/indexes.js";
import { META_KEY } from "../src/ledger/keys.js";
import { NodeCache } from "../src/ledger/node-cache.js";
import { encodeCheckpoint, LedgerState, LOCAL_TAG, type Checkpoint } from "../src/ledger/state.js";
import { openMemoryStore } from "../src/store/memory.js";
import { expectCode } from "./helpers/expect-code.js";

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

function copyFixture(): { store: string; keyring: string } {
  dir = mkdtempSync(join(tmpdir(), "hearth-legacy-"));
  cpSync(FIXTURE, dir, { recursive: true });
  return { store: pathToFileURL(join(dir, "store")).href, keyring: pathToFileURL(join(dir, "keyring")).href };
}

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

describe("tree tags in checkpoints", () => {
  it("a new ledger's local tree is made with the wide fan-out", async () => {
    const store = await openMemoryStore(`memory://fanout-${Math.random()}`);
    const state = await LedgerState.load(store, new NodeCache(store));
    expect(state.localTree.tag).toBe(LOCAL_TAG);
    expect(fanoutBitsOf(LOCAL_TAG)).toBe(7);
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
