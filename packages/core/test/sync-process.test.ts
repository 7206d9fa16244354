/**
 * Sync across processes: every replica runs in its own Node process with
 * its own store directory and its own keyring directory (its own device),
 * and they meet only at one shared `file://` directory. Covers the seed
 * report's four scenarios, three processes writing at once, and replicas
 * SIGKILLed right after acknowledging writes they had not pushed, which
 * must push them once restarted. Every wait has a deadline; nothing sleeps.
 */
import { describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { useFileReplicas } from "./helpers/file-replicas.js";
import type { ReplicaDump, ReplicaProcess } from "./helpers/replica-process.js";

const fleet = useFileReplicas("sync-process");
const setting = (): { dir: string; url: string } => fleet.point();
const start = (dir: string, name: string): Promise<ReplicaProcess> => fleet.start(dir, name);

/** `member` (attached) invites `joiner`'s device, which then attaches. */
async function admit(member: ReplicaProcess, joiner: ReplicaProcess, url: string): Promise<void> {
  const invitation = await member.invite((await joiner.device()).publicKey);
  await joiner.attach(url, invitation);
}

/** Waits until every replica is in sync and all hold the same root; returns the common dump. */
async function converged(replicas: ReplicaProcess[], timeoutMs = 20_000): Promise<ReplicaDump> {
  return eventually(async () => {
    const statuses = await Promise.all(replicas.map((r) => r.synced()));
    for (const status of statuses) expect(status).toMatchObject({ pending: 0, behind: 0, rejected: 0 });
    const dumps = await Promise.all(replicas.map((r) => r.dump()));
    for (const dump of dumps) expect(dump).toEqual(dumps[0]);
    return dumps[0]!;
  }, { timeoutMs, what: `replicas ${replicas.map((r) => r.name).join(", ")} to converge` });
}

const idsOf = (dump: ReplicaDump): string[] => dump.rows.map((row) => row.key);

describe("seed scenarios across processes (separate keyrings)", () => {
  it("1. A attaches and writes, then B attaches and receives", async () => {
    const { dir, url } = setting();
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
    const { dir, url } = setting();
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
    const { dir, url } = setting();
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
    const { dir, url } = setting();
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

describe("many processes", () => {
  it("3 processes putting, bulk-writing and deleting at once converge to one root with identical conflicts", async () => {
    const { dir, url } = setting();
    const replicas = await Promise.all(["p0", "p1", "p2"].map((name) => start(dir, name)));
    const [first, ...others] = replicas;
    await first!.attach(url);
    for (const other of others) await admit(first!, other, url);
    await Promise.all(replicas.map(async (replica, i) => {
      const writes: Array<Promise<unknown>> = [replica.bulk(Array.from({ length: 10 }, (_, k) => ({ _id: `p${i}-bulk-${k}`, by: i })))];
      for (let k = 0; k < 10; k++) writes.push(replica.put({ _id: `p${i}-put-${k}`, by: i }));
      writes.push(replica.put({ _id: "shared", by: i }));
      await Promise.all(writes);
      await replica.del(`p${i}-put-0`);
    }));
    const dump = await converged(replicas);
    expect(dump.rows).toHaveLength(3 * 20 + 1);
    expect(dump.rows.filter((row) => "_deleted" in row.value).map((row) => row.key)).toEqual(["p0-put-0", "p1-put-0", "p2-put-0"]);
    const shared = await Promise.all(replicas.map((r) => r.get("shared")));
    for (const doc of shared) expect(doc).toEqual(shared[0]);
    expect(shared[0]!._conflicts).toHaveLength(2);
  });
});

describe("SIGKILL after acknowledged, unpushed writes", () => {
  it("a detached replica killed right after its writes were acknowledged pushes them once restarted", async () => {
    const { dir, url } = setting();
    const [a, b] = await Promise.all([start(dir, "a"), start(dir, "b")]);
    await a.attach(url);
    await admit(a, b, url);
    await converged([a, b]);
    await b.detach();
    const docs = Array.from({ length: 20 }, (_, i) => ({ _id: `queued-${String(i).padStart(2, "0")}`, i }));
    await b.bulk(docs.slice(0, 10));
    for (const doc of docs.slice(10)) await b.put(doc);
    // Acknowledged, in B's outbox only: kill before anything else can happen.
    await b.kill();
    expect(idsOf(await a.dump())).toEqual([]);
    const again = await start(dir, "b");
    expect(idsOf(await again.dump())).toEqual(docs.map((d) => d._id));
    await again.attach(url);
    const dump = await converged([a, again]);
    expect(dump.rows.map((row) => row.value)).toEqual(docs);
  });

  it("an attached replica killed mid-push, right after an acknowledgement, pushes the rest once restarted", async () => {
    const { dir, url } = setting();
    const [a, b] = await Promise.all([start(dir, "a"), start(dir, "b")]);
    await a.attach(url);
    await admit(a, b, url);
    const acked: string[] = [];
    let n = 0;
    /** One acknowledged write after another, as an app would make them: B's engine pushes meanwhile. */
    const writeSome = async (count: number): Promise<void> => {
      for (let k = 0; k < count; k++, n++) {
        const id = `w-${String(n).padStart(3, "0")}`;
        if (n % 4 === 0) await b.bulk([{ _id: id, n }, { _id: `${id}-pair`, n }]);
        else await b.put({ _id: id, n });
        acked.push(id);
        if (n % 4 === 0) acked.push(`${id}-pair`);
      }
    };
    await writeSome(20);
    // Some of B's writes have reached A, so B's engine is pushing…
    await eventually(async () => expect((await a.dump()).rows.length).toBeGreaterThan(0), { timeoutMs: 10_000, what: "A to receive B's first writes" });
    // …and B dies the moment its last write is acknowledged.
    await writeSome(20);
    await b.kill();
    await a.synced();
    const before = (await a.dump()).rows.length;
    const again = await start(dir, "b");
    expect(idsOf(await again.dump())).toEqual([...acked].sort());
    await again.attach(url);
    const dump = await converged([a, again]);
    expect(idsOf(dump), `A held ${before} of ${acked.length} acknowledged writes when B was killed`).toEqual([...acked].sort());
  });
});
