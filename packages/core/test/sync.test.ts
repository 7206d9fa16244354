/**
 * Sync between replicas through a remote: the seed report's four scenarios
 * (each with separate keyrings and with one shared keyring, over memory and
 * file sync points), many replicas, offline and restarts, keys, integrity
 * and subscriptions. Every wait is on `synced()` or a condition with a
 * deadline; nothing sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Ledger } from "../src/index.node.js";
import { HearthError } from "../src/errors.js";
import { openMemoryRemote } from "../src/remote/memory.js";
import type { Remote } from "../src/remote/types.js";
import { eventually } from "./helpers/eventually.js";
import { expectCode } from "./helpers/expect-code.js";
import type { Attachment } from "../src/sync/attachment.js";
import { Peers, docsOf, type PeerStorage } from "./helpers/sync-peers.js";
import { syncConformance, type SyncFactory } from "../src/testing/sync-suite.js";

const SYNCED = { timeoutMs: 10_000 };
let peers: Peers | undefined;

afterEach(async () => {
  await peers?.closeAll();
  peers = undefined;
});

/** Sessions for the portable sync suite: replicas on `storage`, one sync point of `point` kind. */
function sessions(storage: PeerStorage, point: "memory" | "file"): SyncFactory {
  return {
    label: `${storage} replicas, ${point} sync point`,
    async session() {
      const p = new Peers(storage);
      const url = p.syncPoint(point);
      return { open: (name, device) => p.open(name, device), target: () => url, close: () => p.closeAll() };
    },
  };
}

describe("sync conformance (the seed's scenarios and more)", () => {
  for (const factory of [sessions("memory", "memory"), sessions("file", "file")]) {
    for (const c of syncConformance(factory)) it(c.name, c.run, 60_000);
  }
});

describe("many replicas", () => {
  it.each([3, 5])("%i replicas writing concurrently converge to one root with identical conflicts", async (n) => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const dbs: Ledger[] = [];
    const attachments: Attachment[] = [];
    for (let i = 0; i < n; i++) {
      const db = await peers.open(`r${i}`);
      attachments.push(await peers.join(db, point, dbs[0]));
      dbs.push(db);
    }
    await Promise.all(dbs.map(async (db, i) => {
      const writes = [];
      for (let k = 0; k < 20; k++) writes.push(db.put({ _id: `r${i}-${k}`, by: i }));
      // Everyone writes the same document concurrently: a conflict on every replica.
      writes.push(db.put({ _id: "shared", by: i }));
      await Promise.all(writes);
    }));
    await eventually(async () => {
      await Promise.all(attachments.map((a) => a.synced(SYNCED)));
      const roots = await Promise.all(dbs.map((db) => db.root()));
      expect(new Set(roots).size).toBe(1);
    }, { timeoutMs: 20_000 });
    const expected = await docsOf(dbs[0]!);
    expect(Object.keys(expected)).toHaveLength(n * 20 + 1);
    const conflicts = await Promise.all(dbs.map((db) => db.get("shared", { conflicts: true })));
    for (const c of conflicts) expect(c).toEqual(conflicts[0]);
    expect(conflicts[0]!._conflicts).toHaveLength(n - 1);
    for (const db of dbs) expect(await docsOf(db)).toEqual(expected);
  });
});

describe("values", () => {
  it("Uint8Array fields reach another device (separate keyrings) as bytes, and index there in the same order", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a);
    await a.bulk([{ _id: "x", sig: new Uint8Array([2, 0]) }, { _id: "y", sig: new Uint8Array([1, 255]), deep: [{ k: new Uint8Array([9]) }] }]);
    await sa.synced(SYNCED);
    await sb.synced(SYNCED);
    const y = await b.get("y");
    expect(y).toEqual({ _id: "y", sig: new Uint8Array([1, 255]), deep: [{ k: new Uint8Array([9]) }] });
    expect(y.sig).toBeInstanceOf(Uint8Array);
    expect((await b.query("sig")).rows.map((r) => r.id)).toEqual(["y", "x"]);
    expect(await b.root()).toBe(await a.root());
  });
});

describe("offline and restarts", () => {
  it("a replica detaches, both sides write, it re-attaches: both converge", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    let sb = await peers.join(b, point, a);
    await sb.synced(SYNCED);
    await sb.detach();
    await a.put({ _id: "a-while-b-away" });
    await b.put({ _id: "b-while-away" });
    await sa.synced(SYNCED);
    expect(sb.status().pending).toBeGreaterThanOrEqual(0);
    sb = await b.attach(point);
    await sb.synced(SYNCED);
    await sa.synced(SYNCED);
    expect(await a.get("b-while-away")).toBeTruthy();
    expect(await b.get("a-while-b-away")).toBeTruthy();
    expect(await a.root()).toBe(await b.root());
  });

  it("writes made while the remote fails are pushed later, in order, and nothing is lost", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const inner = await openMemoryRemote(url);
    let failing = false;
    const flaky = {
      ...inner,
      url: inner.url,
      supports: inner.supports,
      put: async (name: string, bytes: Uint8Array) => {
        if (failing) throw new HearthError("STORAGE_FAILED", "injected: remote down");
        return inner.put(name, bytes);
      },
      get: (name: string) => inner.get(name),
      list: async (prefix: string) => {
        if (failing) throw new HearthError("STORAGE_FAILED", "injected: remote down");
        return inner.list(prefix);
      },
      delete: (name: string) => inner.delete(name),
      watch: inner.watch!.bind(inner),
      close: () => inner.close(),
    };
    const a = await peers.open("a");
    const sa = await a.attach(flaky);
    await sa.synced(SYNCED);
    failing = true;
    for (let i = 0; i < 10; i++) await a.put({ _id: `offline-${i}` });
    await eventually(() => expect(sa.status().state).toBe("offline"));
    expect(sa.status().pending).toBeGreaterThan(0);
    expect(sa.status().error?.code).toBe("STORAGE_FAILED");
    failing = false;
    await sa.synced(SYNCED);
    expect(sa.status().pending).toBe(0);
    await eventually(() => expect(sa.status().state).toBe("idle"));
    const b = await peers.open("b");
    await peers.join(b, url, a).then((sb) => sb.synced(SYNCED));
    expect(Object.keys(await docsOf(b))).toHaveLength(10);
  });

  it("a replica restarted before it could push loses nothing: the outbox is durable", async () => {
    peers = new Peers("file");
    const url = peers.syncPoint("file");
    const a = await peers.open("a");
    const sa = await a.attach(url);
    await sa.synced(SYNCED);
    await sa.detach({ flushTimeoutMs: 1 }); // leave without pushing what follows
    await a.bulk(Array.from({ length: 20 }, (_, i) => ({ _id: `queued-${i}` })));
    // Close without any attachment: the writes stay only in A's local log.
    await a.close();
    const again = await peers.reopen("a");
    const sa2 = await again.attach(url);
    await sa2.synced(SYNCED);
    const b = await peers.open("b");
    const sb = await peers.join(b, url, again);
    await sb.synced(SYNCED);
    expect(Object.keys(await docsOf(b))).toHaveLength(20);
  });
});

describe("keys", () => {
  it("another device without invite or share code gets KEY_REQUIRED fast, naming the point and the remedies", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    await a.attach(point);
    const b = await peers.open("b");
    const started = Date.now();
    const err = await b.attach(point).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(HearthError);
    expect((err as HearthError).code).toBe("KEY_REQUIRED");
    expect((err as HearthError).message).toContain(point);
    expect((err as HearthError).message).toContain("invite");
    expect((err as HearthError).message).toContain("shareCode");
    expect(b.attachments()).toHaveLength(0);
  });

  it("a share code lets another device join, once", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    await a.put({ _id: "x" });
    const code = await sa.createShareCode();
    const b = await peers.open("b");
    const sb = await b.attach(point, { shareCode: code });
    await sb.synced(SYNCED);
    expect(await b.get("x")).toEqual({ _id: "x" });
    const c = await peers.open("c");
    await expectCode(c.attach(point, { shareCode: code }), "KEY_REQUIRED");
    // B is now a member by its own device record: it attaches again without the code.
    await sb.detach();
    await (await b.attach(point)).synced(SYNCED);
  });

  it("a passphrase set by the creator lets another device join", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    await a.attach(point, { passphrase: "correct horse battery staple" });
    await a.put({ _id: "p" });
    const b = await peers.open("b");
    await expectCode(b.attach(point, { passphrase: "wrong" }), "KEY_REQUIRED");
    const sb = await b.attach(point, { passphrase: "correct horse battery staple" });
    await sb.synced(SYNCED);
    expect(await b.get("p")).toEqual({ _id: "p" });
  });

  it("rotation: members keep reading old and new data; a revoked device cannot read new data", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a);
    const c = await peers.open("c");
    const sc = await peers.join(c, point, a);
    await a.put({ _id: "before" });
    await Promise.all([sb.synced(SYNCED), sc.synced(SYNCED)]);
    await sa.rotateKey({ revoke: [(await c.device()).publicKey] });
    await a.put({ _id: "after" });
    await b.put({ _id: "from-b-after" });
    await eventually(async () => {
      expect(await b.get("after")).toBeTruthy();
      expect(await a.get("from-b-after")).toBeTruthy();
    }, { timeoutMs: 10_000 });
    // C holds the old data, cannot open the new, and says why (revoked = removed).
    expect(await c.get("before")).toBeTruthy();
    await eventually(() => expect(sc.status().error?.code).toBe("REMOVED"), { timeoutMs: 10_000 });
    await expectCode(c.get("after"), "NOT_FOUND");
    // A new member invited after the rotation reads everything.
    const d = await peers.open("d");
    const sd = await peers.join(d, point, a);
    await eventually(async () => expect(Object.keys(await docsOf(d)).sort()).toEqual(["after", "before", "from-b-after"]), { timeoutMs: 10_000 });
    await sd.synced(SYNCED);
  });
});

describe("integrity at the remote", () => {
  it("a tampered bundle is rejected with INTEGRITY, never merged, and the rest still syncs", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const raw = await openMemoryRemote(point);
    const a = await peers.open("a");
    const sa = await a.attach(point);
    // Big enough not to ride inline in the announcement: B must fetch the bundle.
    await a.put({ _id: "good-1", pad: "x".repeat(4_000) });
    await sa.synced(SYNCED);
    // Tamper with every bundle A stored so far.
    for (const name of await raw.list("bundle/")) {
      const bytes = (await raw.get(name))!;
      bytes[bytes.length - 1]! ^= 1;
      await raw.put(name, bytes);
    }
    // A foreign bundle: plausible name, random content.
    await raw.put("bundle/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", new Uint8Array(64));
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a);
    // C never saw A's (now damaged) history, so its writes do not depend on it.
    const c = await peers.open("c");
    await peers.join(c, point, a);
    await c.put({ _id: "independent" });
    await eventually(async () => expect(await b.get("independent")).toEqual({ _id: "independent" }), { timeoutMs: 10_000 });
    await eventually(() => expect(sb.status().error?.code).toBe("INTEGRITY"), { timeoutMs: 10_000 });
    expect(sb.status().rejected).toBeGreaterThanOrEqual(2);
    await expectCode(b.get("good-1"), "NOT_FOUND");
    await raw.close();
  });

  it("a tampered announcement is ignored with INTEGRITY and does not block other announcements", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const raw = await openMemoryRemote(point);
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a);
    await raw.put("head/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", new Uint8Array([1, 2, 3]));
    await a.put({ _id: "still-flows" });
    await sa.synced(SYNCED);
    await eventually(async () => expect(await b.get("still-flows")).toEqual({ _id: "still-flows" }), { timeoutMs: 10_000 });
    await eventually(() => expect(sb.status().error?.code).toBe("INTEGRITY"), { timeoutMs: 10_000 });
    await raw.close();
  });
});

describe("watch hints", () => {
  /** A client of memory sync point `url` that counts its calls and can withhold the names its watch passes on. */
  async function countingRemote(url: string, options: { nameless?: boolean } = {}) {
    const inner = await openMemoryRemote(url);
    const calls: string[] = [];
    const remote: Remote = {
      url: inner.url,
      supports: inner.supports,
      put: (n, b) => (calls.push(`put ${n.split("/")[0]}`), inner.put(n, b)),
      get: (n) => (calls.push(`get ${n.split("/")[0]}`), inner.get(n)),
      list: (p) => (calls.push(`list ${p}`), inner.list(p)),
      delete: (n) => (calls.push(`delete ${n.split("/")[0]}`), inner.delete(n)),
      watch: (p, fn) => inner.watch!(p, (changes) => (options.nameless ? fn() : fn(changes))),
      close: () => inner.close(),
    };
    return { remote, calls };
  }

  it("a watching reader merges a small remote write from the notification alone: no listing, no fetch", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const { remote, calls } = await countingRemote(point);
    const sb = await peers.join(b, remote, a);
    await sb.synced(SYNCED);
    await sa.synced(SYNCED);
    calls.length = 0;
    await a.put({ _id: "small", n: 1 });
    await eventually(async () => expect(await b.get("small")).toEqual({ _id: "small", n: 1 }), { timeoutMs: 10_000 });
    expect(calls).toEqual([]);
    // A bigger write is not inlined: the reader fetches its bundle, still without listing.
    await a.put({ _id: "big", pad: "x".repeat(4_000) });
    await eventually(async () => expect((await b.get("big")).pad).toHaveLength(4_000), { timeoutMs: 10_000 });
    expect(calls).toEqual(["get bundle"]);
  });

  it("each writer collects its own superseded announcements: the sync point keeps a bounded number, and a late joiner still gets everything", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const raw = await openMemoryRemote(point);
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a);
    for (let i = 0; i < 30; i++) {
      await (i % 2 === 0 ? a : b).put({ _id: `w${i}` });
      await Promise.all([sa.synced(SYNCED), sb.synced(SYNCED)]);
    }
    // Collections run beside the loop after a short random wait.
    await eventually(async () => expect((await raw.list("head/")).length).toBeLessThanOrEqual(16), { timeoutMs: 10_000 }); // 30 without collection
    const c = await peers.open("c");
    const sc = await peers.join(c, point, a);
    await sc.synced(SYNCED);
    expect(Object.keys(await docsOf(c))).toHaveLength(30);
    await raw.close();
  });

  it("a watch that names nothing makes the reader list, and it still converges", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const { remote, calls } = await countingRemote(point, { nameless: true });
    const sb = await peers.join(b, remote, a);
    await Promise.all([sa.synced(SYNCED), sb.synced(SYNCED)]);
    calls.length = 0;
    await a.put({ _id: "x" });
    await eventually(async () => expect(await b.get("x")).toEqual({ _id: "x" }), { timeoutMs: 10_000 });
    expect(calls).toContain("list head/");
    expect(calls).toContain("get head");
  });
});

describe("observability", () => {
  it("subscriptions fire on every replica for remote changes, and the attachment reports change and status", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const dbs = [await peers.open("a")];
    const attachments = [await dbs[0]!.attach(point)];
    for (const name of ["b", "c"]) {
      const db = await peers.open(name);
      attachments.push(await peers.join(db, point, dbs[0]));
      dbs.push(db);
    }
    const seen = dbs.map(() => [] as string[]);
    dbs.forEach((db, i) => db.subscribe((docs) => seen[i]!.push(...docs.map((d) => d._id))));
    const changes: number[] = [];
    attachments[1]!.on("change", (c) => changes.push(c.applied));
    const states = new Set<string>();
    attachments[1]!.on("status", (s) => states.add(s.state));
    await dbs[0]!.put({ _id: "live" });
    await eventually(() => {
      for (const s of seen) expect(s).toContain("live");
    }, { timeoutMs: 10_000 });
    expect(changes.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(1);
    expect(states.has("idle") || states.has("syncing")).toBe(true);
    const status = attachments[1]!.status();
    expect(status).toMatchObject({ pending: expect.any(Number), behind: expect.any(Number), rejected: 0 });
  });

  it("synced() rejects with TIMEOUT while the remote is unreachable, and detach makes later calls STORE_CLOSED", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const inner = await openMemoryRemote(url);
    let down = false;
    const check = async <T>(f: () => Promise<T>): Promise<T> => {
      if (down) throw new HearthError("STORAGE_FAILED", "injected: remote down");
      return f();
    };
    const remote = {
      url: inner.url,
      supports: { watch: false, persistent: false },
      put: (n: string, b: Uint8Array) => check(() => inner.put(n, b)),
      get: (n: string) => check(() => inner.get(n)),
      list: (p: string) => check(() => inner.list(p)),
      delete: (n: string) => check(() => inner.delete(n)),
      close: () => inner.close(),
    };
    const a = await peers.open("a");
    const sa = await a.attach(remote, { pollMs: 20 });
    await sa.synced(SYNCED);
    down = true;
    await a.put({ _id: "stuck" });
    await expectCode(sa.synced({ timeoutMs: 200 }), "TIMEOUT");
    await sa.detach();
    expect(() => sa.synced()).toThrow(HearthError);
  });

  it("attaching twice to one point is refused; bad targets are INVALID_URL", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    await a.attach(point);
    await expectCode(a.attach(point), "INVALID_ARGUMENT");
    await expectCode(a.attach("ftp://nowhere"), "INVALID_URL");
    await expectCode(a.invite("not-a-key"), "INVALID_ARGUMENT");
    const lone = await peers.open("lone");
    await expectCode(lone.invite((await a.device()).publicKey), "INVALID_ARGUMENT");
  });
});
