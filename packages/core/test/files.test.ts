/**
 * Files (`_files`): round trips of every input kind, the patch rules of
 * `put`, storage once per content, and checks of every block read.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openAsBlob } from "node:fs";
import { truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_BYTES } from "../src/files/blocks.js";
import type { DocFile } from "../src/files/ledger-files.js";
import { expectCode } from "./helpers/expect-code.js";
import { Peers } from "./helpers/sync-peers.js";
import { bytes, expectBytes, filesOf } from "./helpers/file-bytes.js";

let peers: Peers | undefined;
afterEach(async () => {
  await peers?.closeAll();
  peers = undefined;
});

async function readAll(file: DocFile): Promise<Uint8Array> {
  return new Uint8Array(await (await file.file()).arrayBuffer());
}

function streamOf(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}


describe("_files", () => {
  it("round-trips every input kind, with type, size and lastModified", async () => {
    peers = new Peers("file");
    const db = await peers.open("a");
    const big = bytes(2 * CHUNK_BYTES + 12_345, 2);
    const large = bytes(4 * CHUNK_BYTES + 3, 9);
    const path = join(peers.dir, "input.bin");
    await writeFile(path, big);
    await db.put({
      _id: "trip",
      title: "Alps",
      _files: {
        "bytes.bin": bytes(100),
        "empty.bin": new Uint8Array(0),
        "map.pdf": new File([big], "map.pdf", { type: "application/pdf", lastModified: 1_700_000_000_000 }),
        "blob.txt": new Blob(["hello"], { type: "text/plain" }),
        "disk.bin": await openAsBlob(path),
        "stream.bin": streamOf(big, 70_000),
        // A Node Buffer past the size sealed off the ledger's thread (its slice() is a view, not a copy).
        "buffer.bin": Buffer.from(large),
      },
    });
    const doc = await db.get("trip");
    expect(doc.title).toBe("Alps");
    const files = filesOf(doc);
    expect(Object.keys(files).sort()).toEqual(["blob.txt", "buffer.bin", "bytes.bin", "disk.bin", "empty.bin", "map.pdf", "stream.bin"]);
    expect(files["map.pdf"]).toMatchObject({ type: "application/pdf", size: big.length, lastModified: 1_700_000_000_000 });
    expect(files["bytes.bin"]!.type).toBe("application/octet-stream");
    expect(files["blob.txt"]!.type).toBe("text/plain");
    expectBytes(await readAll(files["bytes.bin"]!), bytes(100));
    expectBytes(await readAll(files["empty.bin"]!), new Uint8Array(0));
    expectBytes(await readAll(files["map.pdf"]!), big);
    expect(await (await files["blob.txt"]!.file()).text()).toBe("hello");
    expectBytes(await readAll(files["disk.bin"]!), big);
    expectBytes(await readAll(files["stream.bin"]!), big);
    expectBytes(await readAll(files["buffer.bin"]!), large);
    const file = await files["map.pdf"]!.file();
    expect(file.name).toBe("map.pdf");
    // The same content is the same file.
    expect(files["disk.bin"]!.cid).toBe(files["map.pdf"]!.cid);
    expect(files["stream.bin"]!.cid).toBe(files["map.pdf"]!.cid);
    // Reads after a reopen.
    await db.close();
    const again = await peers.reopen("a");
    expectBytes(await readAll(filesOf(await again.get("trip"))["stream.bin"]!), big);
  });
});

describe("put and _files", () => {
  it("keeps files on updates that do not mention them; null removes one, or all", async () => {
    peers = new Peers("memory");
    const db = await peers.open("a");
    await db.put({ _id: "d", v: 1, _files: { a: bytes(10, 1), b: bytes(10, 2), c: bytes(10, 3) } });
    await db.put({ _id: "d", v: 2 });
    expect(Object.keys(filesOf(await db.get("d"))).sort()).toEqual(["a", "b", "c"]);
    await db.bulk([{ _id: "d", v: 3, _files: { b: null } }]);
    const doc = await db.get("d");
    expect(doc.v).toBe(3);
    expect(Object.keys(filesOf(doc)).sort()).toEqual(["a", "c"]);
    // Written back as read (a Fireproof habit), and a file renamed by passing it under a new name.
    await db.put({ ...doc, v: 4, _files: { ...filesOf(doc), moved: filesOf(doc).a!, a: null } });
    const moved = await db.get("d");
    expect(Object.keys(filesOf(moved)).sort()).toEqual(["c", "moved"]);
    expectBytes(await readAll(filesOf(moved).moved!), bytes(10, 1));
    await db.put({ _id: "d", _files: null });
    expect((await db.get("d"))._files).toBeUndefined();
    // A deleted and re-created document starts with no files.
    await db.put({ _id: "e", _files: { a: bytes(5) } });
    await db.del("e");
    await db.put({ _id: "e", v: 1 });
    expect((await db.get("e"))._files).toBeUndefined();
  });

  it("refuses malformed _files with INVALID_DOC, and a kept file the document does not have", async () => {
    peers = new Peers("memory");
    const db = await peers.open("a");
    await expectCode(db.put({ _id: "x", _files: "nope" as never }), "INVALID_DOC");
    await expectCode(db.put({ _id: "x", _files: [bytes(3)] as never }), "INVALID_DOC");
    await expectCode(db.put({ _id: "x", _files: { a: 42 as never } }), "INVALID_DOC");
    await expectCode(db.put({ _id: "x", _files: { "": bytes(3) } }), "INVALID_DOC");
    await expectCode(db.put({ _id: "x", _files: { a: { cid: "bafkreiabc" } as never } }), "INVALID_DOC");
    await db.put({ _id: "y", _files: { a: bytes(3) } });
    const file = filesOf(await db.get("y")).a!;
    // Another document's file is not this one's to keep: pass its content.
    await expectCode(db.put({ _id: "x", _files: { a: file } }), "INVALID_DOC");
    await db.put({ _id: "x", _files: { a: await file.file() } });
    expect(filesOf(await db.get("x")).a!.cid).toBe(file.cid);
    await expectCode(db.get("nothing-written"), "NOT_FOUND");
    // A stream that yields text instead of bytes.
    const text = new ReadableStream({ start: (c) => (c.enqueue("text"), c.close()) });
    await expectCode(db.put({ _id: "z", _files: { a: text as never } }), "INVALID_DOC");
    await expectCode(db.get("z"), "NOT_FOUND");
  });

  it("content that fails part way is STORAGE_FAILED and writes nothing; the ledger goes on", async () => {
    peers = new Peers("file");
    const db = await peers.open("a");
    const content = bytes(6 * CHUNK_BYTES, 8);
    // A stream that errors after four chunks (blocks still being written when it fails).
    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 4 * CHUNK_BYTES) return controller.error(new Error("the network went away"));
        controller.enqueue(content.slice(sent, sent + CHUNK_BYTES));
        sent += CHUNK_BYTES;
      },
    });
    await expectCode(db.put({ _id: "s", _files: { f: failing } }), "STORAGE_FAILED");
    await expectCode(db.get("s"), "NOT_FOUND");
    // A file on disk that changed after its Blob was made (Node's Blob then refuses to read it).
    const path = join(peers.dir, "shrinking.bin");
    await writeFile(path, content);
    const blob = await openAsBlob(path);
    await truncate(path, CHUNK_BYTES);
    await expectCode(db.put({ _id: "b", _files: { f: blob } }), "STORAGE_FAILED");
    await expectCode(db.get("b"), "NOT_FOUND");
    // Nothing half-written stays in the way: the same content whole goes in, and compact() keeps it.
    await db.put({ _id: "s", _files: { f: content } });
    await db.compact();
    expectBytes(await readAll(filesOf(await db.get("s")).f!), content);
  });

  it("stores the same content once, and files show in allDocs, changes, query and subscribe", async () => {
    peers = new Peers("memory");
    const db = await peers.open("a");
    const seen: string[] = [];
    db.subscribe((docs) => {
      for (const doc of docs) if ("_files" in doc && doc._files) seen.push(filesOf(doc).a!.cid);
    });
    const content = bytes(3 * CHUNK_BYTES, 7);
    await db.put({ _id: "one", kind: "photo", _files: { a: content } });
    await db.put({ _id: "two", kind: "photo", _files: { a: new Blob([content]) } });
    const one = filesOf(await db.get("one")).a!;
    expect(filesOf(await db.get("two")).a!.cid).toBe(one.cid);
    expect(seen).toEqual([one.cid, one.cid]);
    const { rows } = await db.allDocs();
    expectBytes(await readAll(filesOf(rows[0]!.value).a!), content);
    const changes = await db.changes();
    expect(filesOf(changes.rows[1]!.value).a!.cid).toBe(one.cid);
    const query = await db.query("kind", { key: "photo", includeDocs: true });
    expect(filesOf(query.rows[0]!.doc!).a!.size).toBe(content.length);
  });
});

describe("compact() collects files nothing refers to", () => {
  it("frees the blocks of deleted documents and removed entries, keeps what a live file shares", async () => {
    peers = new Peers("file");
    const db = await peers.open("a");
    const shared = bytes(2 * CHUNK_BYTES, 11);
    const tail = bytes(CHUNK_BYTES, 12);
    await db.put({ _id: "one", _files: { a: new Blob([shared, tail]), b: bytes(100, 13) } });
    await db.put({ _id: "two", _files: { a: shared } });
    expect(await db.compact()).toEqual({ files: 0, blocks: 0, remoteBlocks: 0 });
    await db.put({ _id: "one", _files: { b: null } });
    // b: its manifest and its one chunk.
    expect(await db.compact()).toEqual({ files: 1, blocks: 2, remoteBlocks: 0 });
    await db.del("one");
    // one's a: its manifest and the tail chunk; the two shared chunks stay for two's file.
    expect(await db.compact()).toEqual({ files: 1, blocks: 2, remoteBlocks: 0 });
    expectBytes(await readAll(filesOf(await db.get("two")).a!), shared);
    await db.del("two");
    expect(await db.compact()).toEqual({ files: 1, blocks: 3, remoteBlocks: 0 });
    expect(await db.compact()).toEqual({ files: 0, blocks: 0, remoteBlocks: 0 });
  });

  it("keeps a file a conflicting version refers to, and never collects a write in flight", async () => {
    peers = new Peers("memory");
    const a = await peers.open("a");
    const b = await peers.open("b");
    await a.put({ _id: "d", _files: { f: bytes(1000, 21) } });
    await b.put({ _id: "d", v: "b's version, without files" });
    await a.ingest(await Promise.all(b.heads().map((h) => b.eventBlock(h))));
    await b.ingest(await Promise.all(a.heads().map((h) => a.eventBlock(h))));
    const doc = await a.get("d", { conflicts: true });
    const versions = [doc, ...(doc._conflicts ?? [])];
    expect(versions.filter((v) => v._files !== undefined)).toHaveLength(1);
    expect(await a.compact()).toEqual({ files: 0, blocks: 0, remoteBlocks: 0 });
    // A big write and a collection at once: the collection waits, the file is whole.
    const content = bytes(4 * CHUNK_BYTES, 22);
    const writing = a.put({ _id: "big", _files: { f: content } });
    const collecting = a.compact();
    await writing;
    expect(await collecting).toEqual({ files: 0, blocks: 0, remoteBlocks: 0 });
    expectBytes(await readAll(filesOf(await a.get("big")).f!), content);
  });
});
