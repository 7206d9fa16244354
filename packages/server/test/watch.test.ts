// Push over the watch socket: changes reach other clients, hellos are
// checked like requests, dead or revoked watchers are dropped, and a
// client whose server restarts reconnects and loses no change. Plus the
// server's graceful close.
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { openHttpRemote, type Remote } from "@hearth/core";
import { waitFor } from "@hearth/core/testing";
import { WATCH_INLINE_MAX_BYTES, type WatchServerMessage } from "@hearth/core/wire";
import { openFsBackend } from "../src/index.js";
import { cleanup, startServer, type TestServer } from "./helpers/server.js";

const DEADLINE = 5_000;
const remotes: Remote[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(remotes.splice(0).map((r) => r.close()));
  await cleanup();
});

async function client(s: TestServer, ledger: string, token: string): Promise<Remote> {
  const remote = await openHttpRemote(`${s.url}/${ledger}`, { token, WebSocket, reconnect: { initialMs: 20, maxMs: 200 } });
  remotes.push(remote);
  return remote;
}

/** A raw watch socket that records every message and how it closed. */
function socket(s: TestServer, ledger: string, options: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(`${s.url.replace("http", "ws")}/v1/ledgers/${ledger}/watch`, options);
  sockets.push(ws);
  const messages: WatchServerMessage[] = [];
  const state = { closed: undefined as number | undefined, refused: undefined as number | undefined };
  ws.on("message", (data) => messages.push(JSON.parse(String(data)) as WatchServerMessage));
  ws.on("close", (code) => (state.closed = code));
  ws.on("unexpected-response", (_req, res) => {
    state.refused = res.statusCode;
    ws.terminate();
  });
  ws.on("error", () => undefined);
  const opened = new Promise<void>((resolve) => ws.once("open", () => resolve()));
  return { ws, messages, state, opened, hello: async (token: string, prefix = "") => (await opened, ws.send(JSON.stringify({ v: 1, type: "hello", token, prefix }))) };
}

const bytes = (n: number) => new Uint8Array([n]);

describe("watch", () => {
  it("a change by one client reaches another client's watcher within the deadline", async () => {
    const s = await startServer();
    const token = await s.token("w");
    const a = await client(s, "w", token);
    const b = await client(s, "w", token);
    const seen: number[] = [];
    a.watch?.("head/", () => seen.push(Date.now()));
    await waitFor(() => seen.length > 0, DEADLINE, "the call after ready");
    const before = seen.length;
    const started = Date.now();
    await b.put("head/1", bytes(1));
    await waitFor(() => seen.length > before, DEADLINE, "a push after B's put");
    expect(seen.at(-1)! - started).toBeLessThan(DEADLINE);
  });

  it("speaks the wire protocol: hello → ready → change naming each change under the prefix, small values inlined", async () => {
    const s = await startServer();
    const token = await s.token("p");
    const w = socket(s, "p");
    await w.hello(await s.token("p", "read"), "head/");
    await waitFor(() => w.messages.length > 0, DEADLINE, "ready");
    expect(w.messages).toEqual([{ v: 1, type: "ready" }]);
    const b = await client(s, "p", token);
    const changes = () => w.messages.filter((m) => m.type === "change");
    await b.put("bundle/x", bytes(1)); // outside the prefix: not pushed
    await b.put("head/a", bytes(2));
    await waitFor(() => changes().length >= 1, DEADLINE, "the change of the put");
    await b.delete("head/a");
    await waitFor(() => changes().length >= 2, DEADLINE, "the change of the delete");
    const big = new Uint8Array(WATCH_INLINE_MAX_BYTES + 1).fill(7);
    await b.put("head/big", big);
    await waitFor(() => changes().length >= 3, DEADLINE, "the change of the big put");
    expect(changes()).toEqual([
      { v: 1, type: "change", names: ["head/a"], changes: [{ name: "head/a", op: "put", value: Buffer.from(bytes(2)).toString("base64url") }] },
      { v: 1, type: "change", names: ["head/a"], changes: [{ name: "head/a", op: "delete" }] },
      { v: 1, type: "change", names: ["head/big"], changes: [{ name: "head/big", op: "put" }] }, // too big to inline: GET it
    ]);
  });

  describe("hellos are checked like requests", () => {
    const refusals: [string, (s: TestServer) => Promise<{ token: string; ledger: string; prefix?: string; raw?: string }>, string][] = [
      ["no token", async () => ({ token: "", ledger: "h" }), "UNAUTHORIZED"],
      ["an unknown token", async () => ({ token: `htk_0123456789abcdef_${"A".repeat(43)}`, ledger: "h" }), "UNAUTHORIZED"],
      ["an expired token", async (s) => ({ token: await s.token("h", "read", Date.now() - 1), ledger: "h" }), "UNAUTHORIZED"],
      ["a token of another ledger", async (s) => ({ token: await s.token("other"), ledger: "h" }), "FORBIDDEN"],
      ["an unknown ledger", async (s) => ({ token: await s.token("h"), ledger: "nowhere" }), "UNKNOWN_LEDGER"],
      ["a bad prefix", async (s) => ({ token: await s.token("h"), ledger: "h", prefix: "../" }), "BAD_REQUEST"],
      ["not JSON", async () => ({ token: "", ledger: "h", raw: "hello?" }), "BAD_REQUEST"],
      ["the wrong message", async () => ({ token: "", ledger: "h", raw: JSON.stringify({ v: 2, type: "hello" }) }), "BAD_REQUEST"],
    ];
    for (const [label, setup, code] of refusals) {
      it(`${label} → error ${code}, then closed`, async () => {
        const s = await startServer();
        await s.token("h");
        const { token, ledger, prefix, raw } = await setup(s);
        const w = socket(s, ledger);
        if (raw !== undefined) {
          await w.opened;
          w.ws.send(raw);
        } else {
          await w.hello(token, prefix);
        }
        await waitFor(() => w.state.closed !== undefined, DEADLINE, "the server to close the socket");
        expect(w.messages).toEqual([{ v: 1, type: "error", error: { code, message: expect.any(String) } }]);
        expect(w.state.closed).toBe(1008);
      });
    }

    it("a socket that never says hello is closed", async () => {
      const s = await startServer({ helloTimeoutMs: 100 });
      const w = socket(s, "h");
      await waitFor(() => w.state.closed !== undefined, DEADLINE, "the hello deadline");
      expect(w.messages[0]).toMatchObject({ type: "error", error: { code: "BAD_REQUEST" } });
    });

    it("an upgrade on another path is refused with an HTTP status", async () => {
      const s = await startServer();
      const bad = socket(s, ".hidden");
      const other = new WebSocket(`${s.url.replace("http", "ws")}/v1/ledgers/h/list`);
      sockets.push(other);
      let otherStatus: number | undefined;
      other.on("unexpected-response", (_req, res) => ((otherStatus = res.statusCode), other.terminate()));
      other.on("error", () => undefined);
      await waitFor(() => bad.state.refused !== undefined && otherStatus !== undefined, DEADLINE, "both refusals");
      expect([bad.state.refused, otherStatus]).toEqual([400, 404]);
    });
  });

  it("a revoked token loses its watch at the next ping; a client that stops answering pings is dropped", async () => {
    const s = await startServer({ pingMs: 50 });
    const { record, token } = await s.backend.tokens.create({ ledger: "r", rights: "read" });
    const revoked = socket(s, "r");
    await revoked.hello(token);
    const silent = socket(s, "r", { autoPong: false });
    await silent.hello(await s.token("r", "read"));
    await waitFor(() => revoked.messages.length > 0 && silent.messages.length > 0, DEADLINE, "both ready");
    await s.backend.tokens.revoke(record.id);
    await waitFor(() => revoked.state.closed !== undefined && silent.state.closed !== undefined, DEADLINE, "both dropped");
    expect(revoked.messages.at(-1)).toMatchObject({ type: "error", error: { code: "UNAUTHORIZED" } });
    expect(silent.state.closed).toBe(1006); // terminated, no closing handshake
  });

  it("reconnects after the server restarts on the same port and directory, and loses no change", async () => {
    const first = await startServer();
    const token = await first.token("re");
    const a = await client(first, "re", token);
    let calls = 0;
    a.watch?.("head/", () => calls++);
    await waitFor(() => calls > 0, DEADLINE, "the first ready");
    await first.stop();

    // While the server is down, another instance writes (here: straight into the backend).
    const offline = await openFsBackend(first.dir, { fsync: false });
    await offline.objects.put("re", "head/while-down", bytes(1));
    await offline.close();
    const beforeRestart = calls;

    const second = await startServer({ dir: first.dir, port: first.port });
    await waitFor(() => calls > beforeRestart, DEADLINE, "a call once the watch is back");
    expect(await a.list("head/")).toEqual(["head/while-down"]);

    const afterReady = calls;
    const b = await client(second, "re", token);
    await b.put("head/after", bytes(2));
    await waitFor(() => calls > afterReady, DEADLINE, "a push on the new server");
    expect(await a.list("head/")).toEqual(["head/after", "head/while-down"]);
  });

  it("stops calling after unsubscribe even across reconnects", async () => {
    const s = await startServer();
    const token = await s.token("u");
    const a = await client(s, "u", token);
    let calls = 0;
    const stop = a.watch?.("", () => calls++);
    await waitFor(() => calls > 0, DEADLINE, "ready");
    stop?.();
    const frozen = calls;
    const witness = await client(s, "u", token);
    let witnessed = 0;
    witness.watch?.("", () => witnessed++);
    await waitFor(() => witnessed > 0, DEADLINE, "witness ready");
    await witness.put("x", bytes(1));
    await waitFor(() => witnessed > 1, DEADLINE, "witness push");
    expect(calls).toBe(frozen);
  });
});

describe("graceful close", () => {
  it("finishes a request in flight, refuses new connections, closes watchers, then the backend", async () => {
    const s = await startServer();
    const token = await s.token("g");
    const w = socket(s, "g");
    await w.hello(token);
    await waitFor(() => w.messages.length > 0, DEADLINE, "ready");

    // A PUT whose body is still arriving when close starts.
    const { port } = new URL(s.url);
    // Expect: 100-continue: the server answers "continue" once the request reached its handler.
    const req = request({
      host: "127.0.0.1",
      port,
      method: "PUT",
      path: "/v1/ledgers/g/objects/slow",
      headers: { authorization: `Bearer ${token}`, "content-length": "4", expect: "100-continue" },
    });
    const answered = new Promise<number>((resolve, reject) => {
      req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on("error", reject);
    });
    await new Promise<void>((resolve) => req.once("continue", () => resolve()));
    req.write(new Uint8Array([1, 2]));
    const closing = s.stop();
    await waitFor(() => w.state.closed !== undefined, DEADLINE, "watchers to be told");
    expect(w.state.closed).toBe(1001);
    req.end(new Uint8Array([3, 4]));
    expect(await answered).toBe(204);
    await closing;

    const reopened = await openFsBackend(s.dir, { fsync: false });
    expect(await reopened.objects.get("g", "slow")).toEqual(new Uint8Array([1, 2, 3, 4]));
    await reopened.close();
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});
