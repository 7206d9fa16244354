/**
 * Files through a real sync server: blocks stream up and down with their
 * names checked by the server (a body that does not hash to its `file/<cid>`
 * name is refused with `INTEGRITY`), eager replicas fetch them, lazy ones
 * read them on demand.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { open, type DocFile, type Ledger } from "@hearth/core";
import { cleanup, startServer, uniqueLedger, type TestServer } from "./helpers/server.js";

afterAll(cleanup);

const SYNCED = { timeoutMs: 60_000 };
const MiB = 1024 * 1024;
let counter = 0;

async function pair(server: TestServer, files: "eager" | "lazy" = "eager"): Promise<{ a: Ledger; b: Ledger; ledger: string; token: string; target: string; close: () => Promise<void> }> {
  const scope = `files-${process.pid}-${++counter}`;
  const ledger = uniqueLedger("files");
  const token = await server.token(ledger);
  const target = `${server.url}/${ledger}?token=${encodeURIComponent(token)}`;
  const a = await open("a", { store: `memory://${scope}-a`, keyring: `memory://${scope}-device-a` });
  const b = await open("b", { store: `memory://${scope}-b`, keyring: `memory://${scope}-device-b` });
  await a.attach(target);
  const { invitations } = await a.invite((await b.device()).publicKey);
  await b.attach(target, { invitation: invitations[0]!, files });
  return { a, b, ledger, token, target, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

async function digestOf(file: DocFile): Promise<string> {
  const hash = createHash("sha256");
  for await (const part of file.stream() as unknown as AsyncIterable<Uint8Array>) hash.update(part);
  return hash.digest("hex");
}

describe("files through the sync server", () => {
  it("eager: a 20 MiB file from A reaches B; the server stores its blocks under names it checked", async () => {
    const server = await startServer();
    const { a, b, ledger, token, close } = await pair(server);
    try {
      const content = randomBytes(20 * MiB + 3);
      await a.put({ _id: "photo", _files: { "p.jpg": new Blob([content], { type: "image/jpeg" }) } });
      const [sa] = a.attachments();
      await sa!.synced(SYNCED);
      await sa!.filesSynced(SYNCED);
      const [sb] = b.attachments();
      await sb!.synced(SYNCED);
      await sb!.filesSynced(SYNCED);
      const file = (await b.get("photo"))._files!["p.jpg"]!;
      expect(file).toMatchObject({ type: "image/jpeg", size: content.length });
      expect(await digestOf(file)).toBe(createHash("sha256").update(content).digest("hex"));
      // A body that does not hash to its name is refused before it is stored.
      const names = await (await fetch(`${server.url}/v1/ledgers/${ledger}/list?prefix=file/`, { headers: { authorization: `Bearer ${token}` } })).json() as { names: string[] } | string[];
      const list = Array.isArray(names) ? names : names.names;
      expect(list.length).toBe(22); // 21 chunks and the manifest
      const forged = await fetch(`${server.url}/v1/ledgers/${ledger}/objects/${list[0]}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: randomBytes(1000),
      });
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(await forged.text()).toContain("INTEGRITY");
    } finally {
      await close();
    }
  }, 120_000);

  it("a server that takes less than a block in one object gets files in parts that fit (eager and lazy readers)", async () => {
    const server = await startServer({ maxBodyBytes: 256 * 1024 });
    const { a, b, ledger, token, target: url, close } = await pair(server);
    const scope = `files-${process.pid}-${++counter}-lazy`;
    const c = await open("c", { store: `memory://${scope}-c`, keyring: `memory://${scope}-device-c` });
    try {
      const target = a.attachments()[0]!;
      const content = randomBytes(3 * MiB / 2 + 5);
      await a.put({ _id: "doc", _files: { f: content } });
      await target.synced(SYNCED);
      await target.filesSynced(SYNCED);
      const listed = (await (await fetch(`${server.url}/v1/ledgers/${ledger}/list?prefix=file/`, { headers: { authorization: `Bearer ${token}` } })).json()) as { names: string[] };
      expect(listed.names.filter((n) => n.endsWith(".parts"))).toHaveLength(2); // both chunks in parts; the manifest fits whole
      const expected = createHash("sha256").update(content).digest("hex");
      const [sb] = b.attachments();
      await sb!.synced(SYNCED);
      await sb!.filesSynced(SYNCED);
      expect(await digestOf((await b.get("doc"))._files!.f!)).toBe(expected);
      const { invitations } = await a.invite((await c.device()).publicKey);
      const sc = await c.attach(url, { invitation: invitations[0]!, files: "lazy" });
      await sc.synced(SYNCED);
      expect(await digestOf((await c.get("doc"))._files!.f!)).toBe(expected);
    } finally {
      await c.close();
      await close();
    }
  }, 120_000);

  it("lazy: B streams the file from the server when it reads it", async () => {
    const server = await startServer();
    const { a, b, close } = await pair(server, "lazy");
    try {
      const content = randomBytes(5 * MiB);
      await a.put({ _id: "doc", _files: { f: content } });
      const [sa] = a.attachments();
      await sa!.synced(SYNCED);
      await sa!.filesSynced(SYNCED);
      await b.attachments()[0]!.synced(SYNCED);
      const file = (await b.get("doc"))._files!.f!;
      expect(await digestOf(file)).toBe(createHash("sha256").update(content).digest("hex"));
    } finally {
      await close();
    }
  }, 120_000);

  it("a ledger at its quota: the file that does not fit waits with QUOTA_EXCEEDED, documents still sync, and compact() makes room", async () => {
    const server = await startServer({ quotaBytes: 6 * MiB });
    const ledger = uniqueLedger("quota");
    const target = `${server.url}/${ledger}?token=${encodeURIComponent(await server.token(ledger))}`;
    const scope = `quota-${process.pid}-${++counter}`;
    const a = await open("a", { store: `memory://${scope}-a`, keyring: `memory://${scope}-device-a` });
    try {
      const sa = await a.attach(target);
      await a.put({ _id: "first", _files: { f: randomBytes(4 * MiB) } });
      await sa.synced(SYNCED);
      await sa.filesSynced(SYNCED);
      const second = randomBytes(4 * MiB);
      await a.put({ _id: "second", _files: { f: second } });
      await a.put({ _id: "small", v: 1 });
      await sa.synced(SYNCED);
      await expect(sa.filesSynced({ timeoutMs: 2_000 })).rejects.toMatchObject({ code: "TIMEOUT", message: expect.stringContaining("QUOTA_EXCEEDED") });
      expect(sa.status().error?.code).toBe("QUOTA_EXCEEDED");
      await a.del("first");
      // The only writer: its own state is stable, so the blocks go at the sync point too.
      // A deletion is a small write: it still goes up at the quota (see quota.ts), so room can be made.
      expect(await a.compact()).toMatchObject({ files: 1, remoteBlocks: 5 });
      await sa.filesSynced(SYNCED);
      expect(sa.status().error).toBeUndefined();
    } finally {
      await a.close();
    }
  }, 120_000);
});
