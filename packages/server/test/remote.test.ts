// The remote conformance suite on the HTTP remote against a real server,
// and what is particular to it: URLs, tokens, error mapping, deadlines.
import { createServer as createRawServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { HearthError, openHttpRemote, type Remote } from "@hearth/core";
import { remoteConformance } from "@hearth/core/testing";
import { cleanup, startServer, uniqueLedger, type TestServer } from "./helpers/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(cleanup);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(HearthError);
  return (err as HearthError).code;
}

describe("HTTP remote: conformance", () => {
  const cases = remoteConformance({
    label: "http",
    async open() {
      const ledger = uniqueLedger("conf");
      const token = await s.token(ledger);
      const open = (): Promise<Remote> => openHttpRemote(`${s.url}/${ledger}`, { token, WebSocket });
      return { remote: await open(), openAnother: open };
    },
  });
  for (const c of cases) it(c.name, c.run);
});

describe("HTTP remote: URLs and tokens", () => {
  it("takes the token from ?token= and strips it from remote.url", async () => {
    const token = await s.token("urls");
    const remote = await openHttpRemote(`${s.url}/urls/?token=${encodeURIComponent(token)}`, { WebSocket });
    expect(remote.url).toBe(`${s.url}/urls`);
    await remote.put("k/1", new Uint8Array([1]));
    expect(await remote.list("")).toEqual(["k/1"]);
    await remote.close();
  });

  it("refuses malformed URLs with INVALID_URL and odd tokens with INVALID_ARGUMENT", async () => {
    for (const url of ["http://127.0.0.1:1", "http://127.0.0.1:1/", "http://127.0.0.1:1/.hidden", "http://127.0.0.1:1/a b", "ftp://h/l", "http://u:p@h/l", "http://h/l?tokne=x", "nope"]) {
      expect(await codeOf(openHttpRemote(url)), url).toBe("INVALID_URL");
    }
    expect(await codeOf(openHttpRemote("http://h/l", { token: "has space" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(openHttpRemote("http://h/l?token=%0A"))).toBe("INVALID_ARGUMENT");
  });

  it("a base path before the ledger is kept (a server behind a proxy)", async () => {
    const remote = await openHttpRemote("https://example.org/hearth/team?token=abc");
    expect(remote.url).toBe("https://example.org/hearth/team");
    await remote.close();
  });

  it("declares watch only when it has a WebSocket constructor", async () => {
    const hasGlobal = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function";
    const remote = await openHttpRemote(`${s.url}/x`);
    expect(remote.supports).toEqual({ watch: hasGlobal, persistent: true });
    await remote.close();
  });
});

describe("HTTP remote: error codes", () => {
  it("401 and 403 are UNAUTHORIZED; an unknown ledger is UNAUTHORIZED too", async () => {
    const ledger = uniqueLedger("codes");
    const rw = await s.token(ledger);
    const read = await s.token(ledger, "read");
    expect(await codeOf((await openHttpRemote(`${s.url}/${ledger}`)).list(""))).toBe("UNAUTHORIZED");
    expect(await codeOf((await openHttpRemote(`${s.url}/${ledger}`, { token: "htk_0000000000000000_nope" })).get("a"))).toBe("UNAUTHORIZED");
    const reader = await openHttpRemote(`${s.url}/${ledger}`, { token: read });
    expect(await reader.list("")).toEqual([]);
    expect(await codeOf(reader.put("a", new Uint8Array(1)))).toBe("UNAUTHORIZED");
    expect(await codeOf(reader.delete("a"))).toBe("UNAUTHORIZED");
    expect(await codeOf((await openHttpRemote(`${s.url}/${uniqueLedger("none")}`, { token: rw })).list(""))).toBe("UNAUTHORIZED");
    const err = await (await openHttpRemote(`${s.url}/${ledger}`, { token: read })).put("a", new Uint8Array(1)).catch((e: HearthError) => e);
    expect(String((err as HearthError).message)).toContain(`hearth token create --ledger ${ledger} --rights read-write`);
  });

  it("a body that does not hash to its CID name is INTEGRITY; too large is TOO_LARGE", async () => {
    const small = await startServer({ maxBodyBytes: 1024 });
    const ledger = uniqueLedger("int");
    const remote = await openHttpRemote(`${small.url}/${ledger}`, { token: await small.token(ledger) });
    const cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; // the CID of no bytes
    expect(await codeOf(remote.put(`bundle/${cid}`, new Uint8Array([1])))).toBe("INTEGRITY");
    await remote.put(`bundle/${cid}`, new Uint8Array(0));
    await remote.put(`head/${cid}`, new Uint8Array(0));
    expect(await codeOf(remote.put("v/big", new Uint8Array(1025)))).toBe("TOO_LARGE");
    expect(await codeOf(remote.put("v/huge", new Uint8Array(8 * 1024 * 1024)))).toBe("TOO_LARGE");
    expect(await remote.list("")).toEqual([`bundle/${cid}`, `head/${cid}`]);
    await remote.close();
  });

  describe("against a misbehaving server", () => {
    let raw: Server;
    let base: string;
    let behaviour: (res: import("node:http").ServerResponse) => void = () => undefined;
    beforeAll(async () => {
      raw = createRawServer((_req, res) => behaviour(res));
      await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      raw.closeAllConnections();
      await new Promise((resolve) => raw.close(resolve));
    });

    it("5xx, 429 and a server that never answers are STORAGE_FAILED (retried by the engine)", async () => {
      const remote = await openHttpRemote(`${base}/l`, { token: "t", timeoutMs: 300 });
      for (const status of [500, 502, 503, 429, 408]) {
        behaviour = (res) => res.writeHead(status).end();
        expect(await codeOf(remote.get("a")), String(status)).toBe("STORAGE_FAILED");
      }
      behaviour = () => undefined; // never answers
      const started = Date.now();
      expect(await codeOf(remote.list(""))).toBe("STORAGE_FAILED");
      expect(Date.now() - started).toBeLessThan(5_000);
      behaviour = (res) => res.writeHead(200, { "content-type": "application/json" }).end('{"nope":1}');
      expect(await codeOf(remote.list(""))).toBe("STORAGE_FAILED");
    });

    it("a 404 that is not a Hearth answer is INVALID_URL, even on GET", async () => {
      behaviour = (res) => res.writeHead(404, { "content-type": "text/html" }).end("<h1>Not Found</h1>");
      const remote = await openHttpRemote(`${base}/l`, { token: "t" });
      expect(await codeOf(remote.get("a"))).toBe("INVALID_URL");
      expect(await codeOf(remote.list(""))).toBe("INVALID_URL");
    });

    it("nobody listening is STORAGE_FAILED", async () => {
      const closed = createRawServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const remote = await openHttpRemote(`http://127.0.0.1:${port}/l`, { token: "t" });
      expect(await codeOf(remote.put("a", new Uint8Array(1)))).toBe("STORAGE_FAILED");
    });
  });
});

describe("cross-origin access (browsers)", () => {
  it("answers preflights without a token and marks every answer as readable from any origin", async () => {
    const preflight = await fetch(`${s.url}/v1/ledgers/x/objects/a`, {
      method: "OPTIONS",
      headers: { origin: "http://app.example", "access-control-request-method": "PUT", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const refused = await fetch(`${s.url}/v1/ledgers/x/list`, { headers: { origin: "http://app.example" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*"); // so the page can read the error
  });
});
