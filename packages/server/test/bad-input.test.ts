// The bad input matrix: every refusal answers its documented status and
// wire code, and leaves the data directory byte for byte as it was.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBatch } from "@hearth/core/wire";
import { cleanup, startServer, type TestServer } from "./helpers/server.js";

const MAX = 1024;
const EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; // CID of no bytes
const L = "matrix";
const OTHER = "other";

let s: TestServer;
let rw: string;
let read: string;
let otherRw: string;

interface Answer {
  status: number;
  code?: string;
}

/** Sends one request exactly as given (no path normalisation, unlike fetch). */
function raw(method: string, path: string, options: { token?: string; body?: Uint8Array; chunked?: boolean; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(s.url);
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body && !options.chunked) headers["content-length"] = String(options.body.length);
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, ...(code !== undefined && { code }) });
      });
    });
    req.on("error", reject);
    if (options.body && options.chunked) {
      // Stream in slices so the server sees the limit crossed mid-body.
      for (let i = 0; i < options.body.length; i += 512) req.write(options.body.subarray(i, i + 512));
    } else if (options.body) {
      req.write(options.body);
    }
    req.end();
  });
}

/** Every file under the data directory with a hash of its bytes. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out[path.slice(s.dir.length)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(s.dir);
  return out;
}

beforeAll(async () => {
  s = await startServer({ maxBodyBytes: MAX });
  rw = await s.token(L);
  read = await s.token(L, "read");
  otherRw = await s.token(OTHER);
  // Something to delete or overwrite, in both ledgers.
  expect((await raw("PUT", `/v1/ledgers/${L}/objects/key/a`, { token: rw, body: new Uint8Array([1, 2, 3]) })).status).toBe(204);
  expect((await raw("PUT", `/v1/ledgers/${L}/objects/bundle/${EMPTY_CID}`, { token: rw, body: new Uint8Array(0) })).status).toBe(204);
  expect((await raw("PUT", `/v1/ledgers/${OTHER}/objects/key/a`, { token: otherRw, body: new Uint8Array([9]) })).status).toBe(204);
});
afterAll(cleanup);

type Case = [label: string, send: () => Promise<Answer>, status: number, code: string];

const obj = (name: string, ledger = L): string => `/v1/ledgers/${ledger}/objects/${name}`;
const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);
const batch = (ledger = L): string => `/v1/ledgers/${ledger}/batch`;

const cases: Case[] = [
  // Tokens.
  ["no token", () => raw("PUT", obj("key/new"), { body: bytes(3) }), 401, "UNAUTHORIZED"],
  ["no token, reading", () => raw("GET", obj("key/a")), 401, "UNAUTHORIZED"],
  ["not a bearer header", () => raw("GET", obj("key/a"), { headers: { authorization: `Basic ${rw}` } }), 401, "UNAUTHORIZED"],
  ["a malformed token", () => raw("PUT", obj("key/new"), { token: "nope", body: bytes(3) }), 401, "UNAUTHORIZED"],
  ["an unknown token id", () => raw("PUT", obj("key/new"), { token: `htk_0123456789abcdef_${"A".repeat(43)}`, body: bytes(3) }), 401, "UNAUTHORIZED"],
  ["a known id with a wrong secret", () => raw("DELETE", obj("key/a"), { token: `${rw.slice(0, 21)}${"A".repeat(43)}` }), 401, "UNAUTHORIZED"],
  ["an expired token", async () => raw("PUT", obj("key/new"), { token: await s.token(L, "read-write", Date.now() - 1), body: bytes(3) }), 401, "UNAUTHORIZED"],
  [
    "a revoked token",
    async () => {
      const { record, token } = await s.backend.tokens.create({ ledger: L, rights: "read-write" });
      await s.backend.tokens.revoke(record.id);
      return raw("DELETE", obj("key/a"), { token });
    },
    401,
    "UNAUTHORIZED",
  ],
  ["a read token writing", () => raw("PUT", obj("key/new"), { token: read, body: bytes(3) }), 403, "FORBIDDEN"],
  ["a read token overwriting", () => raw("PUT", obj("key/a"), { token: read, body: bytes(3) }), 403, "FORBIDDEN"],
  ["a read token deleting", () => raw("DELETE", obj("key/a"), { token: read }), 403, "FORBIDDEN"],
  ["a token of another ledger", () => raw("DELETE", obj("key/a", OTHER), { token: rw }), 403, "FORBIDDEN"],
  ["a token of another ledger, listing", () => raw("GET", `/v1/ledgers/${OTHER}/list`, { token: rw }), 403, "FORBIDDEN"],
  ["an unknown ledger", () => raw("PUT", obj("key/new", "nowhere"), { token: rw, body: bytes(3) }), 404, "UNKNOWN_LEDGER"],
  ["an unknown ledger without a token learns nothing", () => raw("PUT", obj("key/new", "nowhere"), { body: bytes(3) }), 401, "UNAUTHORIZED"],
  // Bodies.
  ["garbage on bundle/<cid>", () => raw("PUT", obj(`bundle/${EMPTY_CID}`), { token: rw, body: bytes(100) }), 400, "INTEGRITY"],
  ["garbage on a new bundle/<cid>", () => raw("PUT", obj("bundle/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), { token: rw, body: bytes(5) }), 400, "INTEGRITY"],
  ["a CID mismatch on head/<cid>", () => raw("PUT", obj(`head/${EMPTY_CID}`), { token: rw, body: new Uint8Array([0]) }), 400, "INTEGRITY"],
  ["a declared body over the limit", () => raw("PUT", obj("key/big"), { token: rw, body: bytes(MAX + 1) }), 413, "TOO_LARGE"],
  ["a streamed body over the limit", () => raw("PUT", obj("key/big"), { token: rw, body: bytes(MAX * 64), chunked: true }), 413, "TOO_LARGE"],
  ["a much larger declared body", () => raw("PUT", obj("key/big"), { token: rw, body: bytes(4 * 1024 * 1024) }), 413, "TOO_LARGE"],
  ["a malformed Content-Length", () => raw("PUT", obj("key/new"), { token: rw, headers: { "content-length": "3x" } }), 400, "BAD_REQUEST"],
  // Batches: every entry is checked before any is stored.
  ["a batch with a read token", () => raw("POST", batch(), { token: read, body: encodeBatch([["key/new", bytes(3)]]) }), 403, "FORBIDDEN"],
  ["a batch without a token", () => raw("POST", batch(), { body: encodeBatch([["key/new", bytes(3)]]) }), 401, "UNAUTHORIZED"],
  ["a truncated batch", () => raw("POST", batch(), { token: rw, body: encodeBatch([["key/new", bytes(3)]]).subarray(0, 9) }), 400, "BAD_REQUEST"],
  ["a batch with too many entries", () => raw("POST", batch(), { token: rw, body: encodeBatch(Array.from({ length: 65 }, (_, i) => [`key/n${i}`, bytes(0)] as const)) }), 400, "BAD_REQUEST"],
  ["a batch whose second name is a path trick", () => raw("POST", batch(), { token: rw, body: encodeBatch([["key/new", bytes(3)], ["../other/key/a", bytes(3)]]) }), 400, "INVALID_NAME"],
  ["a batch whose last entry fails its CID", () => raw("POST", batch(), { token: rw, body: encodeBatch([["key/new", bytes(3)], [`head/${EMPTY_CID}`, bytes(1)]]) }), 400, "INTEGRITY"],
  ["a batch over the body limit", () => raw("POST", batch(), { token: rw, body: encodeBatch([["key/new", bytes(MAX)]]) }), 413, "TOO_LARGE"],
  ["a batch to an unknown ledger", () => raw("POST", batch("nowhere"), { token: rw, body: encodeBatch([["key/new", bytes(3)]]) }), 404, "UNKNOWN_LEDGER"],
  ["a GET of the batch endpoint", () => raw("GET", batch(), { token: rw }), 400, "BAD_REQUEST"],
  // Names and path tricks.
  ["../ in an object name", () => raw("PUT", obj("../../other/objects/key/a"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["../ inside a name", () => raw("DELETE", obj("key/../key/a"), { token: rw }), 400, "INVALID_NAME"],
  ["%2e%2e", () => raw("DELETE", obj("%2e%2e/%2e%2e/other/objects/key/a"), { token: rw }), 400, "INVALID_NAME"],
  ["%2E%2E in the ledger", () => raw("GET", "/v1/ledgers/%2E%2E/list", { token: rw }), 400, "INVALID_NAME"],
  ["an encoded slash", () => raw("PUT", obj("key%2Fnew"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["an encoded ordinary letter", () => raw("PUT", obj("key/%61"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a double slash", () => raw("PUT", obj("key//new"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a double slash before the ledger", () => raw("PUT", `/v1/ledgers//${L}/objects/key/new`, { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a ./ segment", () => raw("PUT", obj("./key/new"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a backslash", () => raw("PUT", obj("key\\..\\new"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a trailing slash", () => raw("PUT", obj("key/new/"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["no name at all", () => raw("PUT", `/v1/ledgers/${L}/objects`, { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a name character outside the rules", () => raw("PUT", obj("key/a:b"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a segment over 255 characters", () => raw("PUT", obj(`key/${"x".repeat(256)}`), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a hidden ledger name", () => raw("PUT", obj("key/new", ".hidden"), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a ledger name too long", () => raw("PUT", obj("key/new", "l".repeat(129)), { token: rw, body: bytes(3) }), 400, "INVALID_NAME"],
  ["a listing prefix with ../", () => raw("GET", `/v1/ledgers/${L}/list?prefix=..%2F`, { token: rw }), 400, "INVALID_NAME"],
  // Routes and methods.
  ["an unknown route", () => raw("GET", "/v2/ledgers/x/list", { token: rw }), 404, "NOT_FOUND"],
  ["an unknown ledger route", () => raw("GET", `/v1/ledgers/${L}/everything`, { token: rw }), 404, "NOT_FOUND"],
  ["a POST on an object", () => raw("POST", obj("key/new"), { token: rw, body: bytes(3) }), 400, "BAD_REQUEST"],
  ["a DELETE on the listing", () => raw("DELETE", `/v1/ledgers/${L}/list`, { token: rw }), 400, "BAD_REQUEST"],
  ["a plain GET of the watch endpoint", () => raw("GET", `/v1/ledgers/${L}/watch`, { token: rw }), 400, "BAD_REQUEST"],
];

describe("bad input: status, code, and the store unchanged", () => {
  for (const [label, send, status, code] of cases) {
    it(`${label} → ${status} ${code}`, async () => {
      const before = snapshot();
      const answer = await send();
      expect(answer).toEqual({ status, code });
      // Token records may be added by the case itself (expired, revoked); objects never change.
      const objects = (snap: Record<string, string>) => Object.fromEntries(Object.entries(snap).filter(([path]) => path.startsWith("/ledgers/")));
      expect(objects(snapshot())).toEqual(objects(before));
      const tokensBefore = Object.entries(before).filter(([path]) => path.startsWith("/tokens/"));
      for (const [path, hash] of tokensBefore) expect(snapshot()[path], path).toBe(hash);
    });
  }

  it("the objects written in setup are still exactly there", async () => {
    expect(await s.backend.objects.list(L, "")).toEqual([`bundle/${EMPTY_CID}`, "key/a"]);
    expect(await s.backend.objects.get(L, "key/a")).toEqual(new Uint8Array([1, 2, 3]));
    expect(await s.backend.objects.list(OTHER, "")).toEqual(["key/a"]);
  });

  it("the server still answers after all that (no connection left wedged)", async () => {
    expect(await raw("GET", obj("key/a"), { token: read })).toEqual({ status: 200 });
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, backend: `fs ${s.dir}` });
  });
});
