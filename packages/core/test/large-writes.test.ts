/**
 * Large writes never become a poison pill: a document too large to reach a
 * sync point is refused before anything is written, a big commit is stored
 * as events a sync point can take one at a time, and bundles are bounded in
 * bytes as well as in events.
 */
import { afterEach, describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import { MAX_DOC_BYTES } from "../src/doc/normalize.js";
import { openMemoryRemote } from "../src/remote/memory.js";
import type { Remote } from "../src/remote/types.js";
import { expectCode } from "./helpers/expect-code.js";
import { Peers } from "./helpers/sync-peers.js";

const SYNCED = { timeoutMs: 30_000 };
const MiB = 1024 * 1024;
let peers: Peers | undefined;

afterEach(async () => {
  await peers?.closeAll();
  peers = undefined;
});

/** A document whose stored body is about `bytes`. */
const sized = (id: string, bytes: number, char = "x"): { _id: string; v: string } => ({ _id: id, v: char.repeat(bytes / new TextEncoder().encode(char).length) });

describe("documents too large to sync", () => {
  it("are refused with TOO_LARGE before anything is written; the writes grouped with them commit", async () => {
    peers = new Peers("memory");
    const db = await peers.open("a");
    const small = db.put({ _id: "small", v: 1 });
    await expectCode(db.put(sized("big", MAX_DOC_BYTES + 1024)), "TOO_LARGE");
    await small;
    // Two bytes of UTF-8 a character: the limit is on stored bytes, not on characters.
    await expectCode(db.put(sized("wide", MAX_DOC_BYTES + 1024, "é")), "TOO_LARGE");
    await expectCode(db.bulk([{ _id: "fine" }, sized("big", MAX_DOC_BYTES + 1024)]), "TOO_LARGE");
    await expectCode(db.get("big"), "NOT_FOUND");
    await expectCode(db.get("fine"), "NOT_FOUND");
    expect(await db.get("small")).toEqual({ _id: "small", v: 1 });
    // Just under the limit is fine.
    await db.put(sized("under", MAX_DOC_BYTES - 64 * 1024, "é"));
    expect((await db.get("under")).v).toHaveLength((MAX_DOC_BYTES - 64 * 1024) / 2);
  });

  it("says how large the document is, what the limit is, and that nothing was written", async () => {
    peers = new Peers("memory");
    const db = await peers.open("a");
    const err = await db.put(sized("big", 9 * MiB)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HearthError);
    expect((err as HearthError).message).toMatch(/"big" is 9\.0 MiB stored; a document may hold at most 8\.0 MiB.*nothing was written/);
  });
});

describe("big commits", () => {
  it("are stored as several chained events of at most ~8 MiB, in one commit, and read back whole after a reopen", async () => {
    peers = new Peers("file");
    const db = await peers.open("a");
    const docs = Array.from({ length: 40 }, (_, i) => sized(`d${String(i).padStart(2, "0")}`, MiB));
    await db.bulk(docs);
    expect(db.heads()).toHaveLength(1);
    const events = await eventsOf(db);
    expect(events.length).toBeGreaterThanOrEqual(5);
    for (const event of events) expect(event.bytes.length).toBeLessThanOrEqual(MAX_DOC_BYTES + 64 * 1024);
    await db.close();
    const again = await peers.open("a");
    expect((await again.allDocs()).rows.map((row) => row.key)).toEqual(docs.map((doc) => doc._id));
    expect((await again.get("d39")).v).toHaveLength(MiB);
  });

  it("reach another replica through a sync point in bundles of at most ~8 MiB", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const a = await peers.open("a");
    const b = await peers.open("b");
    // Written before attaching: one push of ~40 MiB, as a device back online would make.
    await a.bulk(Array.from({ length: 40 }, (_, i) => sized(`big${i}`, MiB)));
    for (let i = 0; i < 300; i++) await a.put(sized(`p${i}`, 32 * 1024));
    const sa = await peers.join(a, url);
    await sa.synced(SYNCED);
    const remote: Remote = await openMemoryRemote(url);
    const sizes = await Promise.all((await remote.list("bundle/")).map(async (name) => (await remote.get(name))!.length));
    expect(sizes.length).toBeGreaterThanOrEqual(7);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(8 * MiB + 64 * 1024);
    const sb = await peers.join(b, url, a);
    await sb.synced(SYNCED);
    expect((await b.allDocs()).rows).toHaveLength(340);
    expect((await b.get("big39")).v).toHaveLength(MiB);
  });
});

async function eventsOf(db: Awaited<ReturnType<Peers["open"]>>): Promise<Array<{ bytes: Uint8Array }>> {
  const out: Array<{ bytes: Uint8Array }> = [];
  const seen = new Set<string>();
  const walk = async (cid: string): Promise<void> => {
    if (seen.has(cid)) return;
    seen.add(cid);
    const block = await db.eventBlock(cid);
    out.push(block);
    for (const parent of block.parents) await walk(parent);
  };
  for (const head of db.heads()) await walk(head);
  return out;
}
