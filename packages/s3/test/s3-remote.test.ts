/**
 * The S3 remote against s3rver (an S3-compatible server, in process): the
 * remote conformance suite, the sync conformance suite with ledgers
 * attached to S3 sync points, and what only S3 has to prove — paged
 * listings, credential and bucket errors, prefixes as separate sync points.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HearthError, open, type Ledger, type Remote } from "@hearth/core";
import { remoteConformance, syncConformance, utf8, waitFor, type RemoteFactory, type SyncFactory } from "@hearth/core/testing";
import { openS3Remote } from "../src/index.js";
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from "./helpers/s3rver.js";

const BUCKET = "hearth-remote";
let s3: TestS3;
let counter = 0;
const unique = (what: string): string => `${what}-${process.pid}-${++counter}`;

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
});

afterAll(async () => {
  await s3?.stop();
});

/** A client of the sync point at `prefix`, with s3rver's credentials. */
const client = (prefix: string, options: { pollMs?: number; maxKeys?: number } = {}): Promise<Remote> =>
  openS3Remote(s3.url(BUCKET, prefix), { credentials: S3RVER_CREDENTIALS, pollMs: 50, ...options });

async function expectCode(promise: Promise<unknown>, code: string): Promise<HearthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(HearthError);
  expect((err as HearthError).code).toBe(code);
  return err as HearthError;
}

describe("remote conformance", () => {
  const factory: RemoteFactory = {
    label: "s3",
    async open() {
      const prefix = unique("conformance");
      return { remote: await client(prefix), openAnother: () => client(prefix) };
    },
  };
  for (const c of remoteConformance(factory)) it(c.name, c.run, 30_000);
});

describe("sync conformance", () => {
  const factory: SyncFactory = {
    label: "memory replicas, s3 sync point",
    async session() {
      const prefix = unique("sync");
      const scope = unique("session");
      const ledgers: Ledger[] = [];
      return {
        async open(name, device) {
          const db = await open(name, { store: `memory://${scope}-${name}`, keyring: `memory://${scope}-device-${device}` });
          ledgers.push(db);
          return db;
        },
        target: () => client(prefix),
        async close() {
          for (const db of ledgers) await db.close().catch(() => undefined);
        },
      };
    },
  };
  for (const c of syncConformance(factory)) it(c.name, c.run, 60_000);
});

describe("S3 specifics", () => {
  it("lists every name across pages (7 keys a page)", async () => {
    const prefix = unique("pages");
    const remote = await client(prefix, { maxKeys: 7 });
    const names = Array.from({ length: 40 }, (_, i) => `bundle/n${String(i).padStart(3, "0")}`);
    await Promise.all(names.map((n) => remote.put(n, utf8(n))));
    expect(await remote.list("bundle/")).toEqual(names);
    expect(await remote.list("bundle/n01")).toEqual(names.slice(10, 20));
    await remote.close();
  });

  it("lists beyond 1,000 keys with S3's own page size", async () => {
    const prefix = unique("thousand");
    const remote = await client(prefix);
    const names = Array.from({ length: 1_003 }, (_, i) => `head/h${String(i).padStart(5, "0")}`);
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => remote.put(n, new Uint8Array([1]))));
    expect(await remote.list("head/")).toEqual(names);
    await remote.close();
  }, 60_000);

  it("a wrong access key is UNAUTHORIZED on every method", async () => {
    const remote = await openS3Remote(s3.url(BUCKET, unique("creds")), { credentials: { accessKeyId: "NOT-A-KEY", secretAccessKey: "x" } });
    await expectCode(remote.put("head/a", utf8("a")), "UNAUTHORIZED");
    await expectCode(remote.get("head/a"), "UNAUTHORIZED");
    await expectCode(remote.list(""), "UNAUTHORIZED");
    await expectCode(remote.delete("head/a"), "UNAUTHORIZED");
    await remote.close();
  });

  it("a missing bucket is STORAGE_FAILED naming the bucket", async () => {
    const remote = await openS3Remote(s3.url("no-such-bucket-here", "p"), { credentials: S3RVER_CREDENTIALS });
    const err = await expectCode(remote.list(""), "STORAGE_FAILED");
    expect(err.message).toContain("no-such-bucket-here");
    await expectCode(remote.put("head/a", utf8("a")), "STORAGE_FAILED");
    await expectCode(remote.get("head/a"), "STORAGE_FAILED");
    await remote.close();
  });

  it("an unreachable endpoint is STORAGE_FAILED", async () => {
    const remote = await openS3Remote("s3://hearth-remote/p?endpoint=http://127.0.0.1:1&region=us-east-1", { credentials: S3RVER_CREDENTIALS });
    await expectCode(remote.get("head/a"), "STORAGE_FAILED");
    await remote.close();
  });

  it("a prefix is a sync point of its own: names and documents stay apart", async () => {
    const [p1, p2] = [unique("team"), `${unique("team")}/nested`];
    const one = await client(p1);
    const two = await client(p2);
    await one.put("head/x", utf8("one"));
    await two.put("head/x", utf8("two"));
    expect(await one.list("")).toEqual(["head/x"]);
    expect(await two.list("")).toEqual(["head/x"]);
    expect(await one.get("head/x")).toEqual(utf8("one"));
    await one.close();
    await two.close();

    // Ledgers on one device (one keyring): no key ceremony, only the prefix separates them.
    const scope = unique("iso");
    const keyring = `memory://${scope}-keyring`;
    const a = await open("a", { store: `memory://${scope}-a`, keyring });
    const b = await open("b", { store: `memory://${scope}-b`, keyring });
    const c = await open("c", { store: `memory://${scope}-c`, keyring });
    try {
      const [pa, pb] = [unique("point"), unique("point")];
      const sa = await a.attach(await client(pa));
      await a.put({ _id: "only-in-a" });
      await sa.synced({ timeoutMs: 10_000 });
      const sb = await b.attach(await client(pb));
      await b.put({ _id: "only-in-b" });
      await sb.synced({ timeoutMs: 10_000 });
      const sc = await c.attach(await client(pa));
      await sc.synced({ timeoutMs: 10_000 });
      await waitFor(async () => (await c.allDocs()).rows.length === 1, 10_000, "c to receive a's document");
      expect((await c.allDocs()).rows.map((r) => r.key)).toEqual(["only-in-a"]);
      expect((await b.allDocs()).rows.map((r) => r.key)).toEqual(["only-in-b"]);
      expect((await a.allDocs()).rows.map((r) => r.key)).toEqual(["only-in-a"]);
    } finally {
      for (const db of [a, b, c]) await db.close();
    }
  });

  it("the remote keeps its URL and says it watches and persists", async () => {
    const url = s3.url(BUCKET, "shown");
    const remote = await openS3Remote(url, { credentials: S3RVER_CREDENTIALS });
    expect(remote.url).toBe(url);
    expect(remote.supports).toEqual({ watch: true, persistent: true });
    await remote.close();
  });

  it("rejects a bad pollMs as a programmer mistake", async () => {
    await expect(openS3Remote(s3.url(BUCKET), { pollMs: 0 })).rejects.toBeInstanceOf(TypeError);
  });
});
