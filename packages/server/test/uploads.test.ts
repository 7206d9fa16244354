/**
 * Uploads: the server's memory is bounded however many clients upload at
 * once (20 concurrent uploads at the 32 MiB limit, to a server in a child
 * process whose peak RSS, its own `resourceUsage()`, must stay under 200
 * MB; before, the same run took it to ~1.9 GB; not timed); bodies streamed
 * to the backend are checked like buffered ones and leave nothing behind
 * when refused; the upload budget of the buffered path admits bodies in
 * order, within its bytes and per-token limit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_MAX_BODY_BYTES } from "@hearth/core/wire";
import { cleanup, startServer, tempDir, uniqueLedger } from "./helpers/server.js";
import { contentName } from "@hearth/core";
import type { IncomingMessage } from "node:http";
import { EventEmitter } from "node:events";
import { UploadGate } from "../src/http/upload-gate.js";
import { withDeadline } from "./helpers/deadline.js";

afterAll(cleanup);

const SERVER_SCRIPT = `
import { createServer, openFsBackend, silentLogger } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, "../dist/index.js")).href)};
import { createInterface } from "node:readline";
const backend = await openFsBackend(process.argv[2], { fsync: false });
const { token } = await backend.tokens.create({ ledger: "big", rights: "read-write" });
const server = await createServer({ backend, logger: silentLogger });
console.log(JSON.stringify({ url: server.url, token }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "report") console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
  if (line === "stop") { await server.close(); process.exit(0); }
}
`;

/** PUTs `body` as object `name`; resolves with the status. */
function put(url: string, token: string, name: string, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/ledgers/big/objects/${name}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "content-length": body.length },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("server memory under concurrent uploads", () => {
  it("20 concurrent uploads at the 32 MiB limit keep the server under 200 MB RSS, and all are stored", async () => {
    const dir = tempDir("hearth-upload-");
    const script = join(dir, "serve.mjs");
    writeFileSync(script, SERVER_SCRIPT);
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [script, join(dir, "data")], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const nextLine = async (what: string): Promise<string> => {
      const { value, done } = await withDeadline(lines.next(), 30_000, what);
      if (done) throw new Error(`the server child exited before ${what}: ${stderr}`);
      return value as string;
    };
    try {
      const { url, token } = JSON.parse(await nextLine("it listened")) as { url: string; token: string };
      const body = randomBytes(DEFAULT_MAX_BODY_BYTES);
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => put(url, token, `v/big-${i}`, body)));
      expect(statuses).toEqual(Array.from({ length: 20 }, () => 204));
      child.stdin.write("report\n");
      const { maxRssBytes } = JSON.parse(await nextLine("its report")) as { maxRssBytes: number };
      console.log(`server peak RSS under 20 concurrent 32 MiB uploads: ${Math.round(maxRssBytes / 1024 / 1024)} MB`);
      expect(maxRssBytes).toBeLessThan(200 * 1024 * 1024);
      const stored = await fetch(`${url}/v1/ledgers/big/objects/v/big-19`, { headers: { authorization: `Bearer ${token}` } });
      expect(Buffer.from(await stored.arrayBuffer()).equals(body)).toBe(true);
    } finally {
      child.stdin.write("stop\n");
      await withDeadline(new Promise((resolve) => child.once("exit", resolve)), 10_000, "the server child to stop").catch(() => child.kill("SIGKILL"));
    }
  }, 120_000);
});

describe("bodies streamed to the backend", () => {
  it("are checked against a CID name, and a refused or cut-off body leaves nothing behind", async () => {
    const s = await startServer();
    const ledger = uniqueLedger("stream");
    const token = await s.token(ledger);
    const body = randomBytes(256 * 1024);
    const name = `bundle/${await contentName(body)}`;
    const send = (target: string, bytes: Uint8Array, declared = bytes.length): Promise<number> =>
      new Promise((resolve) => {
        const req = request(`${s.url}/v1/ledgers/${ledger}/objects/${target}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-length": declared },
        });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        // A client that stops short of what it declared: the server sees the connection end.
        req.on("error", () => resolve(-1));
        if (declared > bytes.length) {
          req.write(bytes);
          setImmediate(() => req.destroy());
        } else req.end(bytes);
      });
    const tampered = Uint8Array.from(body);
    tampered[1000]! ^= 1;
    expect(await send(name, tampered)).toBe(400);
    expect(await send("key/cut", body, body.length + 1000)).toBe(-1);
    const listed = async (): Promise<string[]> => s.backend.objects.list(ledger, "");
    expect(await listed()).toEqual([]);
    expect(await send(name, body)).toBe(204);
    expect(Buffer.from((await s.backend.objects.get(ledger, name))!).equals(body)).toBe(true);
    expect(await listed()).toEqual([name]);
  });
});

describe("the upload budget (bodies read whole)", () => {
  const request_ = (): IncomingMessage => new EventEmitter() as IncomingMessage;

  it("admits bodies in arrival order within its bytes, one token at most its share, and drops a request whose client left", async () => {
    const gate = new UploadGate({ budgetBytes: 100, perToken: 2 });
    const order: string[] = [];
    const enter = (label: string, token: string, bytes: number, req = request_()): Promise<() => void> =>
      gate.enter(req, token, bytes).then((release) => {
        order.push(label);
        return release;
      });
    const a = await enter("a", "t1", 60);
    const b = enter("b", "t2", 60); // does not fit: waits
    const c = enter("c", "t3", 10); // fits, but b came first: waits behind it
    await Promise.resolve();
    expect(order).toEqual(["a"]);
    a();
    const [releaseB, releaseC] = await Promise.all([b, c]);
    expect(order).toEqual(["a", "b", "c"]);
    expect(gate.usedBytes).toBe(70);
    // Per token: the third body of t1 waits while another token's goes ahead.
    releaseB();
    releaseC();
    const t1a = await enter("t1a", "t1", 10);
    const t1b = await enter("t1b", "t1", 10);
    const t1c = enter("t1c", "t1", 10);
    const t2 = await enter("t2", "t2", 10);
    expect(order.slice(3)).toEqual(["t1a", "t1b", "t2"]);
    t1a();
    const t1cRelease = await t1c;
    expect(order.at(-1)).toBe("t1c");
    // A client that goes away while waiting leaves the queue and frees its turn (30 held, then 90).
    const full = await enter("full", "t4", 60);
    const gone = request_();
    const leaving = gate.enter(gone, "t5", 50);
    const after = enter("after", "t6", 10);
    gone.emit("close");
    await expect(leaving).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await after;
    expect(order.at(-1)).toBe("after");
    for (const release of [t1b, t2, t1cRelease, full]) release();
    expect(gate.usedBytes).toBe(10);
  });
});
