// The hearth CLI: help on every command, documented exit codes (0 ok,
// 1 failure, 2 usage), token create/list/revoke against a data directory,
// and `hearth serve` as a real process (startup line, SIGTERM → clean exit).
import { createServer as createRawServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../src/cli/run.js";
import { openFsBackend } from "../src/index.js";
import { bundleCli, runCli, startServeProcess } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, tempDir } from "./helpers/server.js";

afterAll(cleanup);

/** Runs the CLI in-process, capturing output. */
async function hearth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const TOKEN = /^htk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

describe("help and exit codes", () => {
  it.each([["--help"], ["-h"], ["help"], ["serve", "--help"], ["token", "--help"], ["token", "create", "--help"], ["token", "list", "-h"], ["token", "revoke", "--help"]])(
    "hearth %s … prints help and exits 0",
    async (...args) => {
      const { code, stdout } = await hearth(...args);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: hearth/);
      expect(stdout).toContain("--help");
    },
  );

  it("the top-level help lists every command", async () => {
    const { stdout } = await hearth("--help");
    for (const name of ["serve", "token"]) expect(stdout).toContain(`  ${name} `);
  });

  it.each([
    [[]],
    [["frobnicate"]],
    [["serve", "--bogus"]],
    [["serve", "--port", "http"]],
    [["serve", "--port", "70000"]],
    [["serve", "--max-body", "0"]],
    [["serve", "--max-body", "lots"]],
    [["serve", "extra"]],
    [["token"]],
    [["token", "frob"]],
    [["token", "create", "--rights", "rw"]],
    [["token", "create", "--ledger", "x"]],
    [["token", "create", "--ledger", "x", "--rights", "admin"]],
    [["token", "create", "--ledger", "../x", "--rights", "rw"]],
    [["token", "create", "--ledger", "x", "--rights", "rw", "--expires", "soon"]],
    [["token", "create", "--ledger"]],
    [["token", "revoke"]],
    [["token", "revoke", "not-an-id"]],
    [["token", "list", "extra"]],
  ])("hearth %j is a usage error (exit 2) with help on stderr", async (args) => {
    const { code, stdout, stderr } = await hearth(...args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("Usage: hearth");
  });
});

describe("token create / list / revoke", () => {
  it("creates a token that the backend accepts, lists it, and revokes it", async () => {
    const data = tempDir();
    const created = await hearth("token", "create", "--ledger", "todos", "--rights", "rw", "--data", data);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(TOKEN);
    expect(created.stdout).toBe(`${token}\n`); // the token alone on stdout
    const id = TOKEN.exec(token)![1]!;
    expect(created.stderr).toContain(id);

    const reader = await hearth("token", "create", "--ledger", "todos", "--rights", "read", "--expires", "1d", "--data", data);
    expect(reader.code).toBe(0);

    const backend = await openFsBackend(data);
    expect(await backend.tokens.verify(token)).toMatchObject({ id, ledger: "todos", rights: "read-write" });
    const readRecord = await backend.tokens.verify(reader.stdout.trim());
    expect(readRecord).toMatchObject({ ledger: "todos", rights: "read" });
    expect(readRecord!.expiresAt! - Date.now()).toBeGreaterThan(86_400_000 - 60_000);

    const table = await hearth("token", "list", "--data", data);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+todos\\s+read-write\\s+\\S+\\s+never\\s+active$`, "m"));
    expect(table.stdout).not.toContain(token.slice(22)); // never a secret

    expect((await hearth("token", "revoke", id, "--data", data)).code).toBe(0);
    expect(await backend.tokens.verify(token)).toBeUndefined();
    const json = await hearth("token", "list", "--json", "--ledger", "todos", "--data", data);
    const records = json.stdout.trim().split("\n").map((line) => JSON.parse(line) as { id: string; state: string });
    expect(records.map((r) => [r.id === id, r.state])).toEqual([
      [true, "revoked"],
      [false, "active"],
    ]);
    expect((await hearth("token", "list", "--ledger", "nothing", "--json", "--data", data)).stdout).toBe("");
    await backend.close();
  });

  it("revoking an unknown id is a failure (exit 1)", async () => {
    const { code, stderr } = await hearth("token", "revoke", "0123456789abcdef", "--data", tempDir());
    expect(code).toBe(1);
    expect(stderr).toContain("no token 0123456789abcdef");
  });

  it("token files hold only a hash of the secret, readable by the owner only", async () => {
    const data = tempDir();
    const { stdout } = await hearth("token", "create", "--ledger", "l", "--rights", "read", "--data", data);
    const { readdirSync, readFileSync, statSync } = await import("node:fs");
    const files = readdirSync(`${data}/tokens`).filter((f) => f.endsWith(".json"));
    expect(files).toHaveLength(1);
    expect(readdirSync(`${data}/tokens/by-ledger`).sort()).toEqual([".complete", "l"]); // the ledger index: empty markers
    expect(statSync(`${data}/tokens/by-ledger`).mode & 0o077).toBe(0);
    const text = readFileSync(`${data}/tokens/${files[0]}`, "utf8");
    expect(text).not.toContain(stdout.trim().slice(22));
    expect(statSync(`${data}/tokens/${files[0]}`).mode & 0o077).toBe(0);
  });
});

describe("the hearth executable", () => {
  let cli: string;
  beforeAll(async () => {
    cli = await bundleCli(tempDir("hearth-cli-"));
  });

  it("exits 0 with help, 2 on usage errors", async () => {
    expect((await runCli(cli, ["--help"])).code).toBe(0);
    expect((await runCli(cli, ["serve", "--nope"])).code).toBe(2);
  });

  it("serve prints its URL, serves, and stops cleanly on SIGTERM", async () => {
    const data = tempDir();
    const token = (await runCli(cli, ["token", "create", "--ledger", "l", "--rights", "rw", "--data", data])).stdout.trim();
    const { proc, url } = await startServeProcess(cli, ["--data", data, "--port", "0"]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toMatchObject({ ok: true });
    const put = await fetch(`${url}/v1/ledgers/l/objects/k`, { method: "PUT", body: new Uint8Array([1]), headers: { authorization: `Bearer ${token}` } });
    expect(put.status).toBe(204);
    proc.child.kill("SIGTERM");
    expect(await withDeadline(proc.exited, 10_000, "serve to stop")).toBe(0);
    expect(proc.stderr).toContain("stopped");
    const logs = proc.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs).toContainEqual(expect.objectContaining({ msg: "request", method: "PUT", path: "/v1/ledgers/l/objects/k", status: 204 }));
    expect(proc.stdout).not.toContain(token);
  });

  it("serve on a port in use fails with exit 1", async () => {
    const blocker = createRawServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as AddressInfo;
    const result = await runCli(cli, ["serve", "--data", tempDir(), "--port", String(port)]);
    await new Promise((resolve) => blocker.close(resolve));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("EADDRINUSE");
  });
});
