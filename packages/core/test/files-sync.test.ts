/**
 * Files between replicas: each device with its own keyring, through a sync
 * point that may be hostile. Blocks go up in the background after their
 * documents; eager replicas fetch them ahead, lazy ones when read; a block
 * the sync point alters is refused (`INTEGRITY`) and never stored.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openMemoryRemote } from "../src/remote/memory.js";
import type { Remote } from "../src/remote/types.js";
import { CHUNK_BYTES } from "../src/files/blocks.js";
import type { FileProgress } from "../src/sync/file-transfer.js";
import { expectCode } from "./helpers/expect-code.js";
import { eventually } from "./helpers/eventually.js";
import { Peers } from "./helpers/sync-peers.js";
import { bytes, expectBytes, filesOf, streamed } from "./helpers/file-bytes.js";

const SYNCED = { timeoutMs: 30_000 };

/** `remote` with some of its calls replaced. */
function wrapRemote(remote: Remote, calls: Partial<Pick<Remote, "put" | "get" | "delete">>): Remote {
  return new Proxy(remote, {
    get(target, key) {
      if (key === "put" && calls.put) return calls.put;
      if (key === "get" && calls.get) return calls.get;
      if (key === "delete" && calls.delete) return calls.delete;
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
let peers: Peers | undefined;
afterEach(async () => {
  await peers?.closeAll();
  peers = undefined;
});


describe("files across replicas", () => {
  it("eager: B holds A's file after filesSynced, and reads it offline; progress is reported", async () => {
    peers = new Peers("file");
    const url = peers.syncPoint("file");
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    const sb = await peers.join(b, url, a);
    const progress: FileProgress[] = [];
    sa.on("progress", (p) => progress.push(p));
    const content = bytes(3 * CHUNK_BYTES + 5, 3);
    await a.put({ _id: "trip", _files: { "map.pdf": new Blob([content], { type: "application/pdf" }) } });
    await sa.synced(SYNCED);
    await sa.filesSynced(SYNCED);
    expect(progress.at(-1)).toMatchObject({ toPush: 0, pushed: content.length });
    expect(sa.status().files).toEqual({ toPush: 0, toFetch: 0 });
    await sb.synced(SYNCED);
    await sb.filesSynced(SYNCED);
    await sb.detach();
    const file = filesOf(await b.get("trip"))["map.pdf"]!;
    expect(file).toMatchObject({ type: "application/pdf", size: content.length });
    expectBytes(await streamed(file), content);
  });

  it("lazy: B fetches the bytes when it reads them, and not before", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    const { invitations } = await a.invite((await b.device()).publicKey);
    const sb = await b.attach(url, { invitation: invitations[0]!, files: "lazy" });
    const content = bytes(2 * CHUNK_BYTES, 4);
    await a.put({ _id: "d", _files: { f: content } });
    await sa.synced(SYNCED);
    await sa.filesSynced(SYNCED);
    await sb.synced(SYNCED);
    await sb.filesSynced(SYNCED);
    expect(sb.status().files.toFetch).toBe(0);
    const file = filesOf(await b.get("d")).f!;
    expectBytes(await streamed(file), content);
    // Read once, it is here: offline it still reads.
    await sb.detach();
    expectBytes(await streamed(file), content);
  });

  it("a document arrives before its file's bytes, and they follow; NOT_FOUND while nobody has them", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const a = await peers.open("a");
    const b = await peers.open("b");
    // A founds the point, invites B, and goes away before it writes.
    const first = await peers.join(a, url);
    const { invitations } = await a.invite((await b.device()).publicKey);
    await first.detach();
    const content = bytes(CHUNK_BYTES + 1, 5);
    await a.put({ _id: "d", _files: { f: content } });
    // B gets the document from A by hand: no sync point holds the bytes.
    await b.ingest(await Promise.all((await a.heads()).map((cid) => a.eventBlock(cid))));
    const file = filesOf(await b.get("d")).f!;
    await expectCode(streamed(file), "NOT_FOUND");
    // Attached, B still finds nothing until A pushes them.
    const sb = await b.attach(url, { invitation: invitations[0]! });
    await sb.synced(SYNCED);
    await expectCode(streamed(file), "NOT_FOUND");
    const sa = await peers.join(a, url);
    await sa.filesSynced(SYNCED);
    await sb.filesSynced(SYNCED);
    await sb.detach();
    expectBytes(await streamed(file), content);
  });

  it("B fetches a file's chunks while its writer is still uploading them (the manifest goes first)", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    // A's way to the point: the manifest and two chunks go up, the rest wait at a gate.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let fileBlocks = 0;
    const gated = wrapRemote(remote, {
      put: async (name, value) => {
        if (name.startsWith("file/") && ++fileBlocks > 3) await gate;
        return remote.put(name, value);
      },
    });
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, gated);
    const sb = await peers.join(b, url, a);
    const progress: FileProgress[] = [];
    sb.on("progress", (p) => progress.push(p));
    const content = bytes(5 * CHUNK_BYTES, 7);
    try {
      await a.put({ _id: "d", _files: { f: content } });
      await sa.synced(SYNCED);
      await eventually(() => expect(progress.at(-1)).toMatchObject({ fetched: 2 * CHUNK_BYTES, toFetch: 3 * CHUNK_BYTES }), { timeoutMs: 30_000, what: "B to fetch the two chunks at the point" });
      expect(fileBlocks).toBe(6); // every upload started; three wait at the gate
    } finally {
      release();
    }
    await sa.filesSynced(SYNCED);
    await sb.filesSynced(SYNCED);
    expect(progress.at(-1)).toMatchObject({ fetched: content.length, toFetch: 0 });
    expectBytes(await streamed(filesOf(await b.get("d")).f!), content);
    await remote.close();
  });

  it("a chunk B finds missing as its upload lands is fetched when the point names it, not at the next poll", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    // A's way to the point: the manifest and one chunk go up, the other waits at a gate.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let fileBlocks = 0;
    const aRemote = await openMemoryRemote(url);
    const gatedA = wrapRemote(aRemote, {
      put: async (name, value) => {
        if (name.startsWith("file/") && ++fileBlocks > 2) await gate;
        return aRemote.put(name, value);
      },
    });
    // B's: its first get of a missing chunk opens A's gate and answers "missing" only once the
    // chunk is at the point and B has heard of it (the race a get and an upload can run).
    let raced: string | undefined;
    const bRemote = await openMemoryRemote(url);
    const racingB = wrapRemote(bRemote, {
      get: async (name) => {
        const bytes = await bRemote.get(name);
        if (bytes !== undefined || raced !== undefined || !name.startsWith("file/")) return bytes;
        raced = name;
        release();
        await eventually(async () => expect(await bRemote.get(name)).toBeDefined(), { what: "A's upload to land" });
        await new Promise((resolve) => setImmediate(resolve)); // the watch's notification (a microtask) has run
        return undefined;
      },
    });
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, gatedA);
    const { invitations } = await a.invite((await b.device()).publicKey);
    // A poll far beyond the deadline below: only the point's notification can bring the chunk.
    const sb = await b.attach(racingB, { invitation: invitations[0]!, pollMs: 600_000 });
    const content = bytes(2 * CHUNK_BYTES, 9);
    try {
      await a.put({ _id: "d", _files: { f: content } });
      await sa.synced(SYNCED);
      await sa.filesSynced(SYNCED);
      await sb.synced(SYNCED);
      await sb.filesSynced(SYNCED);
    } finally {
      release();
    }
    expect(raced).toBeDefined();
    expectBytes(await streamed(filesOf(await b.get("d")).f!), content);
    await Promise.all([aRemote.close(), bRemote.close()]);
  });

  it("a block altered at the sync point is refused with INTEGRITY and not stored", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    const { invitations } = await a.invite((await b.device()).publicKey);
    const sb = await b.attach(url, { invitation: invitations[0]!, files: "lazy" });
    const content = bytes(2 * CHUNK_BYTES, 6);
    await a.put({ _id: "d", _files: { f: content } });
    await sa.synced(SYNCED);
    await sa.filesSynced(SYNCED);
    await sb.synced(SYNCED);
    // Alter one chunk (the manifest, listed last by nobody, stays right).
    const file = filesOf(await b.get("d")).f!;
    const manifest = await remote.get(`file/${file.cid}`);
    expect(manifest).toBeDefined();
    const chunks = (await remote.list("file/")).filter((name) => name !== `file/${file.cid}`);
    expect(chunks).toHaveLength(2);
    const original = new Map<string, Uint8Array>();
    for (const name of chunks) {
      const block = (await remote.get(name))!;
      original.set(name, block.slice());
      block[block.length - 20]! ^= 1;
      await remote.put(name, block);
    }
    await expectCode(streamed(file), "INTEGRITY");
    // The manifest altered too: refused as well.
    const forged = manifest!.slice();
    forged[40]! ^= 1;
    await remote.put(`file/${file.cid}`, forged);
    await expectCode(streamed(file), "INTEGRITY");
    // Put right again, the same read succeeds: nothing altered was kept.
    await remote.put(`file/${file.cid}`, manifest!);
    for (const [name, block] of original) await remote.put(name, block);
    expectBytes(await streamed(file), content);
    await remote.close();
  });
});

describe("a sync point that takes small objects", () => {
  it("gets blocks in parts that fit; a part it loses is refused as a whole block and uploaded again", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    const small = (r: Remote): Remote => new Proxy(r, {
      get: (target, key) => (key === "maxObjectBytes" ? 300_000 : typeof Reflect.get(target, key) === "function" ? (Reflect.get(target, key) as (...a: unknown[]) => unknown).bind(target) : Reflect.get(target, key)),
    });
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await a.attach(small(await openMemoryRemote(url)));
    const { invitations } = await a.invite((await b.device()).publicKey);
    const content = bytes(CHUNK_BYTES + 7, 13);
    await a.put({ _id: "d", _files: { f: content } });
    await sa.synced(SYNCED);
    await sa.filesSynced(SYNCED);
    const names = await remote.list("file/");
    expect(names.filter((n) => n.endsWith(".parts"))).toHaveLength(1); // the 1 MiB chunk; the small chunk and the manifest fit
    expect(names.filter((n) => /\.p\d{6}$/.test(n))).toHaveLength(4);
    await remote.delete(names.find((n) => n.endsWith(".p000001"))!);
    const sb = await b.attach(small(await openMemoryRemote(url)), { invitation: invitations[0]! });
    await sb.synced(SYNCED);
    await sb.filesSynced(SYNCED);
    expect(sb.status().rejected).toBeGreaterThan(0);
    expectBytes(await streamed(filesOf(await b.get("d")).f!), content);
    await remote.close();
  });
});

describe("files of a reader", () => {
  it("stay on the reader's device (like its documents) until it is made a writer", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    const a = await peers.open("a");
    const r = await peers.open("r");
    await peers.join(a, url);
    const sr = await peers.join(r, url, a, "reader");
    await r.put({ _id: "mine", _files: { f: bytes(1000, 12) } });
    await sr.filesSynced(SYNCED);
    expect(sr.status().files.toPush).toBe(0);
    expect(await remote.list("file/")).toEqual([]);
    await a.invite((await r.device()).publicKey, { role: "writer" });
    await eventually(async () => expect(await remote.list("file/")).toHaveLength(2), { timeoutMs: 10_000, what: "the promoted device to upload its file" });
    await remote.close();
  });
});

describe("collecting files at the sync point", () => {
  it("compact() deletes a deleted document's file blocks at the point once every writer has pushed since", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    const sb = await peers.join(b, url, a);
    await a.put({ _id: "d", _files: { f: bytes(CHUNK_BYTES + 10, 8) } });
    await a.put({ _id: "keep", _files: { f: bytes(1000, 9) } });
    for (const s of [sa, sb, sa]) await s.synced(SYNCED);
    for (const s of [sa, sb]) await s.filesSynced(SYNCED);
    expect(await remote.list("file/")).toHaveLength(5);
    await a.del("d");
    for (const s of [sa, sb]) await s.synced(SYNCED);
    // B has not pushed since it saw the deletion: a write of its own could still keep the file.
    expect((await a.compact()).remoteBlocks).toBe(0);
    expect(await remote.list("file/")).toHaveLength(5);
    await b.put({ _id: "from-b" });
    for (const s of [sb, sa]) await s.synced(SYNCED);
    expect((await a.compact()).remoteBlocks).toBe(3);
    expect(await remote.list("file/")).toHaveLength(2);
    // B still holds the dead file (until it compacts): it must not put it back at the point.
    for (const s of [sa, sb]) await s.filesSynced(SYNCED);
    expect(await remote.list("file/")).toHaveLength(2);
    // The live file is whole everywhere.
    expectBytes(await streamed(filesOf(await b.get("keep")).f!), bytes(1000, 9));
    await sb.detach();
    expectBytes(await streamed(filesOf(await b.get("keep")).f!), bytes(1000, 9));
    expect((await b.compact()).files).toBe(1);
    await remote.close();
  });

  it("no transfer puts a file back while compact() collects it: a pass asked for meanwhile waits for the end", async () => {
    peers = new Peers("memory");
    const [url1, url2] = [peers.syncPoint("memory"), peers.syncPoint("memory")];
    const [point1, point2] = [await openMemoryRemote(url1), await openMemoryRemote(url2)];
    const a = await peers.open("a");
    const s1 = await peers.join(a, url1);
    // While compact() deletes at the second point, the first point's transfer is asked for a pass.
    // Run then, it would find the file it holds no longer recorded at the first point (collected
    // there a moment before, not yet here) and upload it again.
    let duringCollect: (() => Promise<void>) | undefined;
    const s2 = await a.attach(wrapRemote(await openMemoryRemote(url2), {
      delete: async (name) => {
        await point2.delete(name);
        const run = duringCollect;
        duringCollect = undefined;
        await run?.();
      },
    }));
    await a.put({ _id: "d", _files: { f: bytes(CHUNK_BYTES + 10, 21) } });
    for (const s of [s1, s2]) {
      await s.synced(SYNCED);
      await s.filesSynced(SYNCED);
    }
    for (const point of [point1, point2]) expect(await point.list("file/")).toHaveLength(3);
    await a.del("d");
    for (const s of [s1, s2]) await s.synced(SYNCED);
    let asked = false;
    duringCollect = async () => {
      asked = true;
      // Held: the pass does not run, so this ends at once with TIMEOUT (the file is not at point 1 yet).
      await expectCode(s1.filesSynced({ timeoutMs: 1 }), "TIMEOUT");
    };
    expect(await a.compact()).toMatchObject({ files: 1, remoteBlocks: 6 });
    expect(asked).toBe(true);
    for (const s of [s1, s2]) await s.filesSynced(SYNCED);
    for (const point of [point1, point2]) expect(await point.list("file/")).toEqual([]);
    await point1.close();
    await point2.close();
  });

  it("a file that was wanted and then let go (its document deleted, its blocks gone) is not waited for, nor put back", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const point = await openMemoryRemote(url);
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    // B cannot get blocks for now: it learns of the file, and wants it.
    let blocksReachable = false;
    const forB = wrapRemote(await openMemoryRemote(url), {
      get: async (name) => (!blocksReachable && name.startsWith("file/") ? undefined : point.get(name)),
    });
    const sb = await peers.join(b, forB, a);
    await a.put({ _id: "d", _files: { f: bytes(CHUNK_BYTES + 10, 31) } });
    for (const s of [sa, sb]) await s.synced(SYNCED);
    await sa.filesSynced(SYNCED);
    await expectCode(sb.filesSynced({ timeoutMs: 1 }), "TIMEOUT"); // wanted, not here
    await a.del("d");
    for (const s of [sa, sb]) await s.synced(SYNCED);
    // The point loses the blocks (as a compaction elsewhere would delete them).
    for (const name of await point.list("file/")) await point.delete(name);
    blocksReachable = true;
    await sb.filesSynced(SYNCED);
    expect(sb.status().files.toFetch).toBe(0);
    await sa.filesSynced(SYNCED);
    expect(await point.list("file/")).toEqual([]);
    await point.close();
  });

  it("a writer that kept the file in a write the others had not seen keeps it from being collected", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const remote = await openMemoryRemote(url);
    const a = await peers.open("a");
    const b = await peers.open("b");
    const sa = await peers.join(a, url);
    let sb = await peers.join(b, url, a);
    const content = bytes(CHUNK_BYTES + 10, 10);
    await a.put({ _id: "d", _files: { f: content } });
    for (const s of [sa, sb, sa]) await s.synced(SYNCED);
    await sb.filesSynced(SYNCED);
    await b.put({ _id: "from-b" });
    await sb.synced(SYNCED);
    await sb.detach();
    // Offline, B edits the document (its file stays; two writes before it make B's edit the later
    // one, whatever A merged before deleting); meanwhile A deletes it.
    await b.bulk([{ _id: "x1" }]);
    await b.bulk([{ _id: "x2" }]);
    await b.put({ _id: "d", v: 2 });
    await a.del("d");
    await sa.synced(SYNCED);
    expect((await a.compact()).remoteBlocks).toBe(0);
    sb = await b.attach(url);
    for (const s of [sb, sa]) await s.synced(SYNCED);
    // B's edit wins over the deletion: the file is live again.
    const doc = await a.get("d");
    expect(doc.v).toBe(2);
    expect((await a.compact()).remoteBlocks).toBe(0);
    expect(await remote.list("file/")).toHaveLength(3);
    await sa.filesSynced(SYNCED);
    expectBytes(await streamed(doc._files!.f!), content);
    await remote.close();
  });
});
