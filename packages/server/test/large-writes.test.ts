/**
 * Large writes through a real sync server never block a device's sync for
 * good (the files issue's "no poison pill"): a document over the size limit
 * is refused before it is written, so the writes after it are delivered; a
 * backlog of big writes is pushed in bundles the server takes; a server run
 * with a smaller limit gets smaller bundles, and a document too large even
 * for one bundle stops that device's push with `TOO_LARGE`, not its pull.
 */
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { open, type Ledger } from "@hearth/core";
import { eventually } from "../../core/test/helpers/eventually.js";
import { cleanup, startServer, uniqueLedger, type TestServer } from "./helpers/server.js";

afterAll(cleanup);

const SYNCED = { timeoutMs: 60_000 };
const KiB = 1024;
const MiB = 1024 * KiB;
let counter = 0;

/** Incompressible text of about `bytes` (the server's limit is on sealed, compressed bundles). */
const noise = (bytes: number): string => randomBytes((bytes * 3) / 4).toString("base64");

/** Two replicas on separate devices (A, the admin; B invited by A), both attached to `server`'s ledger. */
async function pair(server: TestServer, before?: (a: Ledger) => Promise<void>): Promise<{ a: Ledger; b: Ledger; target: string; close: () => Promise<void> }> {
  const scope = `large-${process.pid}-${++counter}`;
  const ledger = uniqueLedger("large");
  const target = `${server.url}/${ledger}?token=${encodeURIComponent(await server.token(ledger))}`;
  const a = await open("a", { store: `memory://${scope}-a`, keyring: `memory://${scope}-device-a` });
  const b = await open("b", { store: `memory://${scope}-b`, keyring: `memory://${scope}-device-b` });
  await before?.(a);
  const sa = await a.attach(target);
  const { invitations } = await a.invite((await b.device()).publicKey);
  await b.attach(target, { invitation: invitations[0]! });
  void sa;
  return { a, b, target, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

describe("large writes through the sync server", () => {
  it("a document over the limit is refused at put; the small one written next arrives (the seed's 53 MiB case)", async () => {
    const server = await startServer();
    const { a, b, close } = await pair(server);
    try {
      await expect(a.put({ _id: "huge", blob: noise(53 * MiB) })).rejects.toMatchObject({ code: "TOO_LARGE" });
      await a.put({ _id: "small", v: 1 });
      await a.attachments()[0]!.synced(SYNCED);
      await eventually(async () => expect(await b.get("small")).toEqual({ _id: "small", v: 1 }), { timeoutMs: 30_000 });
      expect(a.attachments()[0]!.status()).toMatchObject({ pending: 0 });
    } finally {
      await close();
    }
  }, 120_000);

  it("a backlog written offline (2,100 writes of 10 KiB, then 12 documents of 1.5 MiB in one bulk) reaches the other device", async () => {
    // A server taking 12 MiB, the backlog scaled to it (the default is 32 MiB;
    // the same holds there for a backlog ~3x this). Before, 2,000 events went
    // into one bundle whatever their size (here ~15 MiB sealed), and the bulk
    // was one event of ~14 MiB sealed: both refused for good.
    const server = await startServer({ maxBodyBytes: 12 * MiB });
    const { a, b, close } = await pair(server, async (a) => {
      for (let i = 0; i < 2_100; i++) await a.put({ _id: `w${String(i).padStart(4, "0")}`, v: noise(10 * KiB) });
      await a.bulk(Array.from({ length: 12 }, (_, i) => ({ _id: `big${i}`, v: noise(1.5 * MiB) })));
    });
    try {
      await a.attachments()[0]!.synced(SYNCED);
      await b.attachments()[0]!.synced(SYNCED);
      expect((await b.allDocs()).rows).toHaveLength(2_112);
      expect((await b.get("big11")).v).toEqual((await a.get("big11")).v);
    } finally {
      await close();
    }
  }, 180_000);

  it("a server with a small --max-body gets smaller bundles; a document too large for it stops only the push", async () => {
    const server = await startServer({ maxBodyBytes: 256 * KiB });
    const { a, b, target, close } = await pair(server, async (a) => {
      for (let i = 0; i < 300; i++) await a.put({ _id: `s${i}`, v: noise(2 * KiB) });
    });
    try {
      const sa = a.attachments()[0]!;
      await sa.synced(SYNCED);
      await b.attachments()[0]!.synced(SYNCED);
      expect((await b.allDocs()).rows).toHaveLength(300);

      // Attached, a document over the server's limit (it says its limit on every answer) is refused at put.
      await expect(a.put({ _id: "over", v: noise(512 * KiB) })).rejects.toMatchObject({ code: "TOO_LARGE", message: expect.stringContaining("_files") });
      await expect(a.get("over")).rejects.toMatchObject({ code: "NOT_FOUND" });
      // Written while detached (no limit known), it blocks A's push with TOO_LARGE, and says so at once.
      await sa.detach();
      await a.put({ _id: "over", v: noise(512 * KiB) });
      const again = await a.attach(target);
      await expect(again.synced(SYNCED)).rejects.toMatchObject({ code: "TOO_LARGE" });
      expect(again.status().error).toMatchObject({ code: "TOO_LARGE" });
      // A still pulls.
      await b.put({ _id: "from-b", v: 2 });
      await eventually(async () => expect(await a.get("from-b")).toEqual({ _id: "from-b", v: 2 }), { timeoutMs: 30_000 });
    } finally {
      await close();
    }
  }, 120_000);
});
