/**
 * Two sync server instances over one S3 bucket and one PostgreSQL schema,
 * as behind a load balancer: replicas attached to different instances
 * (with separate keyrings) sync both ways, the sync conformance suite runs
 * with its replicas spread over both instances, and a watcher on one
 * instance is pushed a write made through the other (LISTEN/NOTIFY), well
 * before any safety poll would have noticed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { open, openHttpRemote, type Ledger } from "@hearth/core";
import { syncConformance, waitFor } from "@hearth/core/testing";
import { createServer, silentLogger, type HearthServer } from "../src/index.js";
import type { Backend } from "../src/backend/types.js";
import { startS3Pg, type S3PgFixture } from "./s3pg-fixture.js";

let fx: S3PgFixture;
const instances: { backend: Backend; server: HearthServer }[] = [];
let counter = 0;
const unique = (what: string): string => `${what}-${process.pid}-${++counter}`;

beforeAll(async () => {
  fx = await startS3Pg("server");
  for (let i = 0; i < 2; i++) {
    const backend = await fx.open();
    instances.push({ backend, server: await createServer({ backend, logger: silentLogger }) });
  }
});

afterAll(async () => {
  for (const { server } of instances) await server.close().catch(() => undefined); // closes its backend too
  await fx?.cleanup();
});

/** `http://instance-i/<ledger>?token=…` */
const target = (i: number, ledger: string, token: string): string => `${instances[i]!.server.url}/${ledger}?token=${encodeURIComponent(token)}`;
const tokenFor = async (ledger: string): Promise<string> => (await instances[0]!.backend.tokens.create({ ledger, rights: "read-write" })).token;

describe("two server instances on S3 + PostgreSQL", () => {
  it("replicas on separate devices attached to different instances sync both ways", async () => {
    const ledger = unique("e2e");
    const token = await tokenFor(ledger);
    const scope = unique("devices");
    const a = await open("a", { store: `memory://${scope}-a`, keyring: `memory://${scope}-key-a` });
    const b = await open("b", { store: `memory://${scope}-b`, keyring: `memory://${scope}-key-b` });
    try {
      const sa = await a.attach(target(0, ledger, token));
      await a.put({ _id: "from-a", v: 1 });
      await sa.synced({ timeoutMs: 10_000 });
      const { invitations } = await a.invite((await b.device()).publicKey);
      const sb = await b.attach(target(1, ledger, token), { invitation: invitations[0]! });
      await sb.synced({ timeoutMs: 10_000 });
      expect(await b.get("from-a")).toEqual({ _id: "from-a", v: 1 });
      await b.put({ _id: "from-b", v: 2 });
      await waitFor(() => a.get("from-b").then(() => true, () => false), 10_000, "A (instance 1) to receive B's write (instance 2)");
      await a.put({ _id: "again-a" });
      await waitFor(() => b.get("again-a").then(() => true, () => false), 10_000, "B (instance 2) to receive A's next write (instance 1)");
      await Promise.all([sa.synced({ timeoutMs: 10_000 }), sb.synced({ timeoutMs: 10_000 })]);
      expect(await a.root()).toEqual(await b.root());
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a watcher on one instance is pushed a write made through the other", async () => {
    const ledger = unique("push");
    const token = await tokenFor(ledger);
    const writer = await openHttpRemote(target(0, ledger, token), { WebSocket });
    const watcher = await openHttpRemote(target(1, ledger, token), { WebSocket });
    try {
      let calls = 0;
      const stop = watcher.watch!("head/", () => calls++);
      // The watch is up once a write through its own instance reaches it.
      await watcher.put("head/probe", new Uint8Array([1]));
      await waitFor(() => calls > 0, 5_000, "the watcher's own instance to push");
      const before = calls;
      const started = Date.now();
      await writer.put("head/from-other-instance", new Uint8Array([2]));
      await waitFor(() => calls > before, 2_000, "a push from the other instance");
      const ms = Date.now() - started;
      expect(ms).toBeLessThan(2_000);
      expect(await watcher.list("head/")).toEqual(["head/from-other-instance", "head/probe"]);
      stop();
    } finally {
      await writer.close();
      await watcher.close();
    }
  });
});

describe("sync conformance with replicas spread over two instances", () => {
  let sessions = 0;
  const cases = syncConformance({
    label: "memory replicas, http sync point on S3 + PostgreSQL (two instances)",
    async session() {
      const scope = `s${process.pid}-${++sessions}`;
      const ledger = unique("sync");
      const token = await tokenFor(ledger);
      let next = 0;
      const ledgers: Ledger[] = [];
      return {
        async open(name, device) {
          const db = await open(name, { store: `memory://${scope}-${name}`, keyring: `memory://${scope}-device-${device}` });
          ledgers.push(db);
          return db;
        },
        // Each attach goes to the other instance than the one before.
        target: () => target(next++ % 2, ledger, token),
        async close() {
          await Promise.all(ledgers.map((db) => db.close().catch(() => undefined)));
        },
      };
    },
  });
  for (const c of cases) it(c.name, c.run, 60_000);
});
