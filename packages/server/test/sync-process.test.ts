/**
 * Sync across processes through a real sync server: `hearth serve` runs as
 * its own process (the bundled CLI, as in production) on a filesystem data
 * directory, each test mints a read-write token for its own ledger with
 * `hearth token create`, and every replica is a separate Node process with
 * its own store and its own keyring directory (its own device), attaching to
 * `http://127.0.0.1:PORT/<ledger>?token=…`. Covers the seed report's four
 * scenarios and five processes writing at once (puts, bulks, deletes, ids
 * written by all of them). Every wait has a deadline; nothing sleeps.
 */
import { describe, expect, it } from "vitest";
import { eventually } from "../../core/test/helpers/eventually.js";
import type { ReplicaDump, ReplicaProcess } from "./helpers/replica.js";
import { useServeWithReplicas } from "./helpers/serve-replicas.js";

const serve = useServeWithReplicas("sync-process", "sp");
const setting = (): Promise<{ dir: string; url: string }> => serve.point();
const start = (dir: string, name: string): Promise<ReplicaProcess> => serve.start(dir, name);

/** `member` (attached) invites `joiner`'s device, which then attaches. */
async function admit(member: ReplicaProcess, joiner: ReplicaProcess, url: string): Promise<void> {
  const invitation = await member.invite((await joiner.device()).publicKey);
  await joiner.attach(url, invitation);
}

/** Waits until every replica is in sync and all hold the same root; returns the common dump. */
async function converged(replicas: ReplicaProcess[], timeoutMs = 30_000): Promise<ReplicaDump> {
  return eventually(async () => {
    const statuses = await Promise.all(replicas.map((r) => r.synced()));
    for (const status of statuses) expect(status).toMatchObject({ pending: 0, behind: 0, rejected: 0 });
    const dumps = await Promise.all(replicas.map((r) => r.dump()));
    for (const dump of dumps) expect(dump).toEqual(dumps[0]);
    return dumps[0]!;
  }, { timeoutMs, what: `replicas ${replicas.map((r) => r.name).join(", ")} to converge` });
}

const idsOf = (dump: ReplicaDump): string[] => dump.rows.map((row) => row.key);

/** A version's fields other than `_id` and `_conflicts`, as JSON with sorted keys: comparable whatever the key order. */
function fieldsOf(doc: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(doc).filter((k) => k !== "_id" && k !== "_conflicts").sort().map((k) => [k, doc[k]]));
}

/** A document's winning version and its conflicts, sorted: comparable as a set. */
function versionsOf(doc: Record<string, unknown>): string[] {
  return [doc, ...((doc._conflicts ?? []) as Array<Record<string, unknown>>)].map(fieldsOf).sort();
}

describe("seed scenarios across processes, through hearth serve (separate keyrings)", () => {
  it("1. A attaches and writes, then B attaches and receives", async () => {
    const { dir, url } = await setting();
    const a = await start(dir, "a");
    await a.attach(url);
    await a.put({ _id: "from-a", value: 1 });
    await a.synced();
    const b = await start(dir, "b");
    await admit(a, b, url);
    await b.synced();
    expect(await b.get("from-a")).toEqual({ _id: "from-a", value: 1, _conflicts: [] });
  });

  it("2. B attaches and writes, then A attaches and receives", async () => {
    const { dir, url } = await setting();
    const b = await start(dir, "b");
    await b.attach(url);
    await b.put({ _id: "from-b", value: 2 });
    await b.synced();
    const a = await start(dir, "a");
    await admit(b, a, url);
    await a.synced();
    expect(await a.get("from-b")).toEqual({ _id: "from-b", value: 2, _conflicts: [] });
  });

  it("3. both attached: A → B, then B → A, with no synced() in between", async () => {
    const { dir, url } = await setting();
    const [a, b] = await Promise.all([start(dir, "a"), start(dir, "b")]);
    await a.attach(url);
    await admit(a, b, url);
    await a.put({ _id: "one", from: "a" });
    await eventually(async () => expect(await b.get("one")).toMatchObject({ _id: "one", from: "a" }), { timeoutMs: 10_000, what: "B to receive A's write" });
    await b.put({ _id: "two", from: "b" });
    await eventually(async () => expect(await a.get("two")).toMatchObject({ _id: "two", from: "b" }), { timeoutMs: 10_000, what: "A to receive B's write" });
    expect(idsOf(await converged([a, b]))).toEqual(["one", "two"]);
  });

  it("4. A writes and exits; B, started afterwards, attaches and receives everything", async () => {
    const { dir, url } = await setting();
    // B's device exists before A leaves (A must invite it), but B's process is gone meanwhile.
    const probe = await start(dir, "b");
    const { publicKey } = await probe.device();
    await probe.close();
    const a = await start(dir, "a");
    await a.attach(url);
    await a.bulk(Array.from({ length: 50 }, (_, i) => ({ _id: `doc-${String(i).padStart(2, "0")}`, i })));
    await a.put({ _id: "last", done: true });
    const invitation = await a.invite(publicKey);
    // No synced(): closing must push what is in the outbox.
    await a.close();
    const b = await start(dir, "b");
    await b.attach(url, invitation);
    await b.synced();
    const dump = await b.dump();
    expect(dump.rows).toHaveLength(51);
    expect(await b.get("last")).toEqual({ _id: "last", done: true, _conflicts: [] });
  });
});

describe("five processes through hearth serve", () => {
  it("writing at once (puts, bulks, deletes, ids written by all) converge to one root with identical conflicts and every acknowledged write", async () => {
    const { dir, url } = await setting();
    const replicas = await Promise.all(["p0", "p1", "p2", "p3", "p4"].map((name) => start(dir, name)));
    /** Every acknowledged write of a replica's own ids: id → the value it last wrote, or null once deleted. */
    const acked = new Map<string, Record<string, unknown> | null>();
    const put = async (r: ReplicaProcess, doc: Record<string, unknown> & { _id: string }): Promise<void> => {
      await r.put(doc);
      acked.set(doc._id, doc);
    };
    const bulk = async (r: ReplicaProcess, docs: Array<Record<string, unknown> & { _id: string }>): Promise<void> => {
      await r.bulk(docs);
      for (const doc of docs) acked.set(doc._id, doc);
    };
    const del = async (r: ReplicaProcess, id: string): Promise<void> => {
      await r.del(id);
      acked.set(id, null);
    };

    // Before anyone attaches, all five write "shared" at once: five concurrent versions by construction.
    const shared = replicas.map((_, i) => ({ _id: "shared", by: i }));
    await Promise.all(replicas.map(async (r, i) => {
      await Promise.all([r.put(shared[i]!), bulk(r, Array.from({ length: 5 }, (_, k) => ({ _id: `p${i}-early-${k}`, by: i, k })))]);
    }));

    const [first, ...others] = replicas;
    await first!.attach(url);
    const devices = await Promise.all(others.map((r) => r.device()));
    const invitations: string[] = [];
    for (const { publicKey } of devices) invitations.push(await first!.invite(publicKey));
    await Promise.all(others.map((r, i) => r.attach(url, invitations[i])));

    // All five attached, writing at once: each round a put, a bulk, a delete of an earlier own doc and a write to "hot".
    const hotVersions: string[] = [];
    await Promise.all(replicas.map(async (r, i) => {
      for (let round = 0; round < 8; round++) {
        const base = `p${i}-r${round}`;
        const hotDoc = { _id: "hot", by: i, round };
        hotVersions.push(fieldsOf(hotDoc));
        await Promise.all([
          put(r, { _id: `${base}-put`, by: i, round }),
          bulk(r, Array.from({ length: 4 }, (_, k) => ({ _id: `${base}-bulk-${k}`, by: i, round, k }))),
          del(r, round === 0 ? `p${i}-early-0` : `p${i}-r${round - 1}-put`),
          r.put(hotDoc),
        ]);
      }
    }));

    const dump = await converged(replicas, 60_000);
    // Nothing lost: every replica's own ids hold exactly what it last wrote (or its deletion), and nothing else exists.
    const rows = new Map(dump.rows.map((row) => [row.key, row.value as Record<string, unknown>]));
    for (const [id, value] of acked) {
      if (value === null) expect(rows.get(id), id).toHaveProperty("_deleted", true);
      else expect(rows.get(id), id).toEqual(value);
    }
    expect([...rows.keys()].sort()).toEqual([...acked.keys(), "hot", "shared"].sort());
    expect([...acked.values()].filter((v) => v === null)).toHaveLength(5 * 8);

    // The same conflicts everywhere; the five offline versions of "shared" are all kept.
    const sharedDocs = await Promise.all(replicas.map((r) => r.get("shared")));
    for (const doc of sharedDocs) expect(doc).toEqual(sharedDocs[0]);
    expect(sharedDocs[0]!._conflicts).toHaveLength(4);
    expect(versionsOf(sharedDocs[0]!)).toEqual(shared.map(fieldsOf).sort());
    // "hot" was written by all while syncing: which versions were concurrent depends on timing, but every replica agrees.
    const hotDocs = await Promise.all(replicas.map((r) => r.get("hot")));
    for (const doc of hotDocs) expect(doc).toEqual(hotDocs[0]);
    for (const version of versionsOf(hotDocs[0]!)) expect(hotVersions).toContain(version);
  }, 120_000);
});
