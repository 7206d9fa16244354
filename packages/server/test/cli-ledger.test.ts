// The hearth commands that work on local ledgers: device, inspect, export,
// import, share, invite, join. In-process (with --store/--keyring or
// $HEARTH_DIR in temp directories) and, for stdin/stdout piping and a
// clean exit, as the bundled executable. Sync commands run against a real
// sync server on 127.0.0.1 and against a file:// sync point; each "device"
// is its own keyring directory.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { open, type Ledger } from "@hearth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../src/cli/run.js";
import { parseLine } from "../src/cli/commands/import.js";
import { PUBLIC_KEY } from "../src/cli/commands/ledger-options.js";
import { progressLine } from "../src/cli/commands/progress.js";
import { bundleCli, runCli, startCli } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, startServer, tempDir, uniqueLedger, type TestServer } from "./helpers/server.js";

const savedHearthDir = process.env.HEARTH_DIR;
afterAll(async () => {
  if (savedHearthDir === undefined) delete process.env.HEARTH_DIR;
  else process.env.HEARTH_DIR = savedHearthDir;
  await cleanup();
});

/** Runs the CLI in-process, capturing output. */
async function hearth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** A device: its own keyring directory, and where its ledgers go. */
interface Device {
  readonly keyring: string;
  readonly dir: string;
  store(name: string): string;
  flags(name: string): string[];
  open(name: string): Promise<Ledger>;
}

function newDevice(): Device {
  const dir = tempDir("hearth-device-");
  const keyring = pathToFileURL(join(dir, ".keyring")).href;
  const store = (name: string): string => pathToFileURL(join(dir, name)).href;
  return {
    keyring,
    dir,
    store,
    flags: (name) => ["--store", store(name), "--keyring", keyring],
    open: (name) => open(name, { store: store(name), keyring }),
  };
}

async function docsOf(device: Device, name: string): Promise<unknown[]> {
  const db = await device.open(name);
  try {
    return (await db.allDocs()).rows.map((r) => r.value);
  } finally {
    await db.close();
  }
}

/** Documents in allDocs order (by _id, UTF-16 code units). */
function sortById<T>(docs: T[]): T[] {
  const id = (doc: T): string => (doc as { _id: string })._id;
  return [...docs].sort((x, y) => (id(x) < id(y) ? -1 : id(x) > id(y) ? 1 : 0));
}

const NEW_COMMANDS = ["device", "inspect", "export", "import", "share", "invite", "join"];

describe("help and exit codes", () => {
  it.each(NEW_COMMANDS)("hearth %s --help prints its usage and exit codes, exit 0", async (name) => {
    const { code, stdout } = await hearth(name, "--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: hearth ${name}`));
    expect(stdout).toContain("--help");
    expect(stdout).toMatch(/Exit codes: 0 .*1 .*2 usage error/s);
  });

  it("the top-level help lists every command", async () => {
    const { stdout } = await hearth("--help");
    for (const name of NEW_COMMANDS) expect(stdout).toContain(`  ${name} `);
  });

  const key = `B${"A".repeat(86)}`;
  it.each([
    [["device", "extra"]],
    [["device", "--keyring", "memory://x"]],
    [["device", "--keyring", "bogus://x"]],
    [["inspect"]],
    [["inspect", "a", "b"]],
    [["inspect", "."]],
    [["inspect", "a", "--store", "bogus://x"]],
    [["inspect", "a", "--nope"]],
    [["export"]],
    [["export", "a", "--output"]],
    [["import"]],
    [["import", "a", "--batch", "0"]],
    [["import", "a", "--batch", "lots"]],
    [["share", "a"]],
    [["share", "a", "--remote", "ftp://x/y"]],
    [["share", "a", "--remote", "http://127.0.0.1:1/l", "--timeout", "soon"]],
    [["invite", "a"]],
    [["invite", "a", "not-a-key", "--remote", "file:///tmp/x"]],
    [["invite", "a", key]],
    [["join"]],
    [["join", "http://127.0.0.1:1/l"]],
    [["join", "memory://x", "--ledger", "l"]],
    [["join", "http://127.0.0.1:1/l", "--ledger", "l", "--share-code", " "]],
    [["join", "http://127.0.0.1:1/l", "--ledger", "l", "--timeout", "1 minute"]],
  ])("hearth %j is a usage error (exit 2) with help on stderr", async (args) => {
    const { code, stdout, stderr } = await hearth(...args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("Usage: hearth");
  });
});

describe("device", () => {
  it("prints the public key open() presents with the default keyring ($HEARTH_DIR/.keyring)", async () => {
    const dir = tempDir();
    process.env.HEARTH_DIR = dir;
    const printed = await hearth("device");
    expect(printed.code).toBe(0);
    const publicKey = printed.stdout.trim();
    expect(publicKey).toMatch(PUBLIC_KEY);
    const db = await open("anything");
    const identity = await db.device();
    await db.close();
    expect(publicKey).toBe(identity.publicKey);
    expect(printed.stderr).toContain(identity.fingerprint);
    const json = JSON.parse((await hearth("device", "--json")).stdout) as { publicKey: string; fingerprint: string; keyring: string };
    expect(json).toEqual({ publicKey, fingerprint: identity.fingerprint, keyring: pathToFileURL(join(dir, ".keyring")).href });
  });

  it("--keyring takes a URL or a directory; another keyring is another device", async () => {
    const a = newDevice();
    const viaUrl = (await hearth("device", "--keyring", a.keyring)).stdout;
    const viaPath = (await hearth("device", "--keyring", join(a.dir, ".keyring"))).stdout;
    expect(viaPath).toBe(viaUrl);
    expect((await hearth("device", "--keyring", newDevice().keyring)).stdout).not.toBe(viaUrl);
  });
});

describe("inspect", () => {
  it("reports documents, heads, root and bytes on disk, as text and --json", async () => {
    const d = newDevice();
    const db = await d.open("todos");
    await db.bulk(Array.from({ length: 30 }, (_, i) => ({ _id: `doc-${i}`, n: i })));
    await db.del("doc-3");
    await db.del("doc-4");
    const root = await db.root();
    const heads = db.heads();
    await db.close();

    const json = await hearth("inspect", "todos", ...d.flags("todos"), "--json");
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ ledger: "todos", store: d.store("todos"), docs: { live: 28, deleted: 2 }, heads, root, attachments: [] });
    expect(report.bytes).toBeGreaterThan(1000);

    const text = await hearth("inspect", "todos", ...d.flags("todos"));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^documents\s+28 live, 2 deleted$/m);
    expect(text.stdout).toContain(root);
    expect(text.stdout).toMatch(/^on disk\s+\d/m);
    expect(text.stdout).toContain("none attached in this process");
  });

  it("a ledger that does not exist is a failure (exit 1) and is not created", async () => {
    const dir = tempDir();
    process.env.HEARTH_DIR = dir;
    const { code, stderr } = await hearth("inspect", "nope");
    expect(code).toBe(1);
    expect(stderr).toContain("NOT_FOUND");
    expect(existsSync(join(dir, "nope"))).toBe(false);
    expect((await hearth("export", "nope")).code).toBe(1);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });

  it("a ledger open in another process (a running app) is LOCKED: exit 1; open in this one, the command shares it", async () => {
    const d = newDevice();
    const db = await d.open("busy");
    await db.put({ _id: "x" });
    const shared = await hearth("inspect", "busy", ...d.flags("busy"), "--json");
    expect(shared.code).toBe(0);
    expect(JSON.parse(shared.stdout)).toMatchObject({ docs: { live: 1 } });
    expect(await db.get("x")).toEqual({ _id: "x" }); // the command closed its handle, not the app's
    await db.close();

    const script = `import { open } from "@hearth/core";
      const db = await open("busy", { store: ${JSON.stringify(d.store("busy"))}, keyring: ${JSON.stringify(d.keyring)} });
      console.log("ready");
      process.stdin.resume();
      process.stdin.on("end", () => db.close().then(() => process.exit(0)));`;
    const app = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      await withDeadline(new Promise<void>((resolve) => app.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve())), 20_000, "the app process to open the ledger");
      const { code, stderr } = await hearth("inspect", "busy", ...d.flags("busy"));
      expect(code).toBe(1);
      expect(stderr).toContain("LOCKED");
    } finally {
      app.stdin.end();
      await withDeadline(new Promise((resolve) => app.once("exit", resolve)), 20_000, "the app process to exit");
    }
  });
});

describe("export and import", () => {
  it("round-trips documents and deletions through JSON lines, in batches", async () => {
    const d = newDevice();
    const db = await d.open("src");
    await db.bulk(Array.from({ length: 2_500 }, (_, i) => ({ _id: `doc-${String(i).padStart(5, "0")}`, n: i, tags: ["a", { deep: [i, null, true] }], text: "héllo ✓" })));
    for (let i = 0; i < 2_500; i += 100) await db.del(`doc-${String(i).padStart(5, "0")}`);
    await db.put({ _id: "doc-00000", n: "back again" }); // deleted, then written again
    const expected = (await db.allDocs()).rows.map((r) => r.value);
    await db.close();

    const live = await hearth("export", "src", ...d.flags("src"));
    expect(live.code).toBe(0);
    const liveLines = live.stdout.trimEnd().split("\n");
    expect(liveLines).toHaveLength(expected.length);
    expect(sortById(liveLines.map((l) => JSON.parse(l) as { _id: string }))).toEqual(expected);
    expect(live.stderr).toContain(`exported ${expected.length} documents`);

    const all = await hearth("export", "src", ...d.flags("src"), "--include-deleted");
    const allLines = all.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { _id: string; _deleted?: boolean });
    expect(allLines).toHaveLength(2_500);
    expect(allLines.filter((doc) => doc._deleted === true)).toHaveLength(24);
    expect(allLines).toContainEqual({ _id: "doc-00100", _deleted: true });

    // Into a ledger that already holds documents that the export deletes.
    const target = await d.open("dst");
    await target.bulk([{ _id: "doc-00100", stale: true }, { _id: "other", kept: true }]);
    await target.close();
    const input = join(d.dir, "all.jsonl");
    writeFileSync(input, all.stdout);
    const imported = await hearth("import", "dst", ...d.flags("dst"), "--input", input);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toBe("imported 2476 documents and 24 deletes into ledger dst (3 commits)\n");
    const after = await docsOf(d, "dst");
    expect(after).toEqual(sortById([...expected, { _id: "other", kept: true }]));
  });

  it("round-trips Uint8Array fields as DAG-JSON bytes ({\"/\": {\"bytes\": base64}})", async () => {
    const d = newDevice();
    const db = await d.open("bin");
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    await db.put({ _id: "b", photo: bytes, nested: [{ empty: new Uint8Array(0) }], lookalike: { "/": { bytes: "not base64!" } } });
    await db.close();
    const exported = await hearth("export", "bin", ...d.flags("bin"));
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe(
      '{"_id":"b","photo":{"/":{"bytes":"AAEC+vv8/f7/"}},"nested":[{"empty":{"/":{"bytes":""}}}],"lookalike":{"/":{"bytes":"not base64!"}}}\n',
    );
    const input = join(d.dir, "bin.jsonl");
    writeFileSync(input, exported.stdout);
    expect((await hearth("import", "copy", ...d.flags("copy"), "--input", input)).code).toBe(0);
    const [doc] = (await docsOf(d, "copy")) as Array<Record<string, unknown>>;
    expect(doc).toEqual({ _id: "b", photo: bytes, nested: [{ empty: new Uint8Array(0) }], lookalike: { "/": { bytes: "not base64!" } } });
    expect(doc!.photo).toBeInstanceOf(Uint8Array);
  });

  it("--output writes the file atomically", async () => {
    const d = newDevice();
    const db = await d.open("l");
    await db.put({ _id: "a", v: 1 });
    await db.close();
    const out = join(d.dir, "out.jsonl");
    const result = await hearth("export", "l", ...d.flags("l"), "--output", out);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(readFileSync(out, "utf8")).toBe('{"_id":"a","v":1}\n');
    expect((await hearth("export", "l", ...d.flags("l"), "--output", join(d.dir, "missing-dir", "x.jsonl"))).code).toBe(1);
  });

  it("a bad line stops the import: exit 1 with its number, every line before it written, nothing from it on", async () => {
    const d = newDevice();
    const lines = Array.from({ length: 2_000 }, (_, i) => JSON.stringify({ _id: `d${i}`, i }));
    lines[1_499] = '{"_id": "d1499", "i": 1499'; // line 1500: truncated JSON
    const input = join(d.dir, "bad.jsonl");
    writeFileSync(input, `${lines.join("\n")}\n`);
    const { code, stdout, stderr } = await hearth("import", "l", ...d.flags("l"), "--input", input, "--batch", "1000");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("line 1500: not valid JSON");
    expect(stderr).toContain("imported 1499 documents");
    const docs = (await docsOf(d, "l")) as Array<{ _id: string }>;
    expect(docs).toHaveLength(1_499);
    expect(docs.some((doc) => doc._id === "d1500")).toBe(false);
  });

  it.each([
    ["[1, 2]", "must be a JSON object, got an array"],
    ["null", "got null"],
    ['"text"', "got string"],
    ['{"_id": 5}', '"_id" must be a string'],
    ['{"_id": ""}', "must not be empty"],
    [`{"_id": "${"x".repeat(1025)}"}`, "longer than 1024 bytes"],
    ['{"_id": "\\ud800"}', "lone UTF-16 surrogate"],
    ['{"a": {"b": ["\\udc00"]}}', "document.a.b[0] is a string with a lone UTF-16 surrogate"],
    ['{"_deleted": true}', "needs the \"_id\""],
  ])("refuses the line %s", (line, message) => {
    expect(() => parseLine(line)).toThrow(message);
  });

  it("accepts documents without _id (generated), deletions, and skips blank lines", async () => {
    expect(parseLine('{"_id":"x","_deleted":true}')).toEqual({ del: "x" });
    expect(parseLine('{"title":"t"}')).toEqual({ put: { title: "t" } });
    const d = newDevice();
    const input = join(d.dir, "in.jsonl");
    writeFileSync(input, '{"title":"no id"}\n\n   \r\n{"_id":"b","v":1}\r\n{"_id":"b","_deleted":true}\n{"_id":"c"}');
    const result = await hearth("import", "l", ...d.flags("l"), "--input", input);
    expect(result.code).toBe(0);
    const docs = (await docsOf(d, "l")) as Array<Record<string, unknown>>;
    expect(docs).toHaveLength(2);
    expect(docs).toContainEqual({ _id: "c" });
    expect(docs.find((doc) => doc.title === "no id")?._id).toMatch(/^[0-9A-Z]{26}$/);
  });

  it("draws progress lines with a bar when the total is known", () => {
    expect(progressLine({ label: "import l", count: 1500, unit: "lines", done: 50, total: 200, elapsedMs: 1000 })).toBe(
      "import l [######------------------]  25% 1,500 lines (1,500/s)",
    );
    expect(progressLine({ label: "export l", count: 12000, unit: "documents", elapsedMs: 2000 })).toBe("export l 12,000 documents (6,000/s)");
  });
});

describe("the executable pipes", () => {
  let cli: string;
  beforeAll(async () => {
    cli = await bundleCli(tempDir("hearth-cli-"));
  });

  it("export > stdout | import < stdin, with no progress noise when stderr is not a terminal; then exits", async () => {
    const d = newDevice();
    const db = await d.open("a");
    await db.bulk(Array.from({ length: 1_200 }, (_, i) => ({ _id: `k${i}`, i })));
    await db.close();
    const exported = await runCli(cli, ["export", "a", ...d.flags("a")]);
    expect(exported.code).toBe(0);
    expect(exported.stdout.trimEnd().split("\n")).toHaveLength(1_200);
    expect(exported.stderr).not.toContain("\r");

    const importer = startCli(cli, ["import", "b", ...d.flags("b")]);
    importer.child.stdin.end(exported.stdout);
    expect(await withDeadline(importer.exited, 20_000, "hearth import")).toBe(0);
    expect(importer.stdout).toContain("imported 1200 documents");
    expect(importer.stderr).toBe("");
    expect(await docsOf(d, "b")).toEqual(await docsOf(d, "a"));
  });

  it("export into a reader that stops early (| head) exits quietly", async () => {
    const d = newDevice();
    const db = await d.open("a");
    await db.bulk(Array.from({ length: 20_000 }, (_, i) => ({ _id: `k${i}`, pad: "x".repeat(64) })));
    await db.close();
    const exporter = startCli(cli, ["export", "a", ...d.flags("a")]);
    // Like `head -1`: one line, then the pipe closes.
    await withDeadline(new Promise<void>((resolve) => exporter.child.stdout.on("data", () => resolve())), 20_000, "the first line");
    exporter.child.stdout.destroy();
    expect(await withDeadline(exporter.exited, 20_000, "hearth export")).toBe(0);
    expect(exporter.stderr).toBe("");
  });
});

describe("share, invite and join", () => {
  let server: TestServer;
  let ledger: string;
  let url: string;
  const owner = newDevice();
  beforeAll(async () => {
    server = await startServer();
    ledger = uniqueLedger("cli");
    url = `${server.url}/${ledger}?token=${await server.token(ledger)}`;
    const db = await owner.open("todos");
    await db.bulk([{ _id: "milk", title: "Buy milk" }, { _id: "bike", title: "Fix the bike" }]);
    await db.del("bike");
    await db.close();
  });

  it("a device that is not a member cannot join (exit 1, KEY_REQUIRED, with both remedies)", async () => {
    const stranger = newDevice();
    // The owner attaches first (creating the sync point's key) by sharing.
    expect((await hearth("share", "todos", ...owner.flags("todos"), "--remote", url)).code).toBe(0);
    const { code, stderr } = await hearth("join", url, "--ledger", "todos", ...stranger.flags("todos"));
    expect(code).toBe(1);
    expect(stderr).toContain("KEY_REQUIRED");
    expect(stderr).toContain("hearth share");
    expect(stderr).toContain(`hearth invite <ledger> ${(await hearth("device", "--keyring", stranger.keyring)).stdout.trim()}`);
    expect(stderr).not.toContain(url.slice(url.indexOf("token=") + 6)); // never the token
    // The failed join left no empty ledger behind: the next command finds none.
    expect(existsSync(fileURLToPath(stranger.store("todos")))).toBe(false);
    expect((await hearth("inspect", "todos", ...stranger.flags("todos"))).code).toBe(1);
  });

  it("share prints a one-time code; join with it syncs and prints counts; the code works once", async () => {
    const shared = await hearth("share", "todos", ...owner.flags("todos"), "--remote", url);
    expect(shared.code).toBe(0);
    const code = shared.stdout.trim();
    expect(shared.stdout).toBe(`${code}\n`);
    expect(code).toMatch(/^hs2-/);

    const other = newDevice();
    const joined = await hearth("join", url, "--ledger", "mine", "--share-code", code, ...other.flags("mine"));
    expect(joined.code).toBe(0);
    expect(joined.stdout).toMatch(new RegExp(`^in sync with ${server.url}/${ledger}: ledger mine holds 1 documents \\(1 deleted\\); digest [a-z2-7]{4}(-[a-z2-7]{4}){3}\\n$`));
    expect(await docsOf(other, "mine")).toEqual([{ _id: "milk", title: "Buy milk" }]);

    // Joining again needs no code: this device is a member now. Its writes flow back.
    const db = await other.open("mine");
    await db.put({ _id: "letter", title: "Post the letter" });
    await db.close();
    expect((await hearth("join", url, "--ledger", "mine", ...other.flags("mine"))).code).toBe(0);
    expect((await hearth("join", url, "--ledger", "todos", ...owner.flags("todos"))).stdout).toContain("holds 2 documents (1 deleted)");

    const third = newDevice();
    const reused = await hearth("join", url, "--ledger", "x", "--share-code", code, ...third.flags("x"));
    expect(reused.code).toBe(1);
    expect(reused.stderr).toContain("KEY_REQUIRED");
  });

  it("invite adds the device with a signed membership entry and prints the invitation; that device joins with it", async () => {
    const invited = newDevice();
    const publicKey = (await hearth("device", "--keyring", invited.keyring)).stdout.trim();
    const before = await server.backend.objects.list(ledger, "m/");
    const result = await hearth("invite", "todos", publicKey, ...owner.flags("todos"), "--remote", url, "--role", "reader");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^hi1-[a-z2-7]{32}\n$/);
    expect(result.stderr).toMatch(/^invited device [0-9a-f]{32} to http:\/\/127\.0\.0\.1:\d+\/cli-\S+ as reader;/);
    expect((await server.backend.objects.list(ledger, "m/")).filter((n) => !before.includes(n)).length).toBe(1);

    // Without the invitation the device cannot tell the real sync point from a planted one: not a member.
    expect((await hearth("join", url, "--ledger", "todos", ...invited.flags("todos"))).code).toBe(1);
    const joined = await hearth("join", url, "--ledger", "todos", "--invitation", result.stdout.trim(), ...invited.flags("todos"));
    expect(joined.code).toBe(0);
    expect(joined.stdout).toContain("holds 2 documents");
    // A reader reads; its own writes stay with it (the attachment says FORBIDDEN) and never reach the others.
    const db = await invited.open("todos");
    await db.put({ _id: "from-reader" });
    await db.close();
    expect((await hearth("join", url, "--ledger", "todos", ...invited.flags("todos"))).stderr).toContain("FORBIDDEN");
    expect((await hearth("join", url, "--ledger", "todos", ...owner.flags("todos"))).stdout).toContain("holds 2 documents");
  });

  it("members lists devices and roles; remove takes a device out for good (its join is REMOVED, its later writes reach nobody)", async () => {
    const point = pathToFileURL(tempDir("hearth-point-")).href;
    const admin = newDevice();
    const lost = newDevice();
    const db = await admin.open("l");
    await db.put({ _id: "x" });
    await db.close();
    const lostKey = (await hearth("device", "--keyring", lost.keyring)).stdout.trim();
    const invitation = (await hearth("invite", "l", lostKey, ...admin.flags("l"), "--remote", point)).stdout.trim();
    expect((await hearth("join", point, "--ledger", "l", "--invitation", invitation, ...lost.flags("l"))).code).toBe(0);

    const listed = await hearth("members", "l", ...admin.flags("l"), "--remote", point, "--json");
    expect(listed.code).toBe(0);
    const members = JSON.parse(listed.stdout) as Array<{ fingerprint: string; role: string; addedBy: string; publicKey: string }>;
    const adminFingerprint = JSON.parse((await hearth("device", "--keyring", admin.keyring, "--json")).stdout).fingerprint as string;
    const lostFingerprint = members.find((m) => m.publicKey === lostKey)!.fingerprint;
    expect(members.map((m) => [m.fingerprint, m.role, m.addedBy]).sort()).toEqual(
      [[adminFingerprint, "admin", adminFingerprint], [lostFingerprint, "writer", adminFingerprint]].sort(),
    );
    const text = await hearth("members", "l", ...lost.flags("l"), "--remote", point);
    expect(text.stdout).toContain(`${lostFingerprint}  writer  added by ${adminFingerprint}  (this device)`);

    // Only an admin removes; nobody removes itself; a malformed device is a usage error.
    expect((await hearth("remove", "l", adminFingerprint, ...lost.flags("l"), "--remote", point)).stderr).toContain("FORBIDDEN");
    expect((await hearth("remove", "l", adminFingerprint, ...admin.flags("l"), "--remote", point)).stderr).toContain("INVALID_ARGUMENT");
    expect((await hearth("remove", "l", "abc", ...admin.flags("l"), "--remote", point)).code).toBe(2);

    const removed = await hearth("remove", "l", lostFingerprint, ...admin.flags("l"), "--remote", point);
    expect(removed.code).toBe(0);
    expect(removed.stderr).toContain(`removed device ${lostFingerprint}`);
    expect(JSON.parse((await hearth("members", "l", ...admin.flags("l"), "--remote", point, "--json")).stdout)).toHaveLength(1);
    const lostDb = await lost.open("l");
    await lostDb.put({ _id: "after-removal" });
    await lostDb.close();
    const rejoined = await hearth("join", point, "--ledger", "l", ...lost.flags("l"));
    expect(rejoined.code).toBe(1);
    expect(rejoined.stderr).toContain("REMOVED");
    expect((await hearth("join", point, "--ledger", "l", ...admin.flags("l"))).stdout).toContain("holds 1 documents");
  });

  it("works over a file:// sync point too", async () => {
    const point = pathToFileURL(tempDir("hearth-point-")).href;
    const a = newDevice();
    const b = newDevice();
    const db = await a.open("l");
    await db.put({ _id: "x", v: 1 });
    await db.close();
    const key = (await hearth("device", "--keyring", b.keyring)).stdout.trim();
    const invited = await hearth("invite", "l", key, ...a.flags("l"), "--remote", point);
    expect(invited.code).toBe(0);
    const joined = await hearth("join", point, "--ledger", "l", "--invitation", invited.stdout.trim(), ...b.flags("l"));
    expect(joined.code).toBe(0);
    expect(await docsOf(b, "l")).toEqual([{ _id: "x", v: 1 }]);
  });

  it("join waits for the files of the documents it syncs: the bytes are here afterwards, offline", async () => {
    const point = pathToFileURL(tempDir("hearth-point-")).href;
    const a = newDevice();
    const b = newDevice();
    const content = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
    const db = await a.open("l");
    const attachment = await db.attach(point);
    await db.put({ _id: "photo", _files: { "p.bin": content } });
    await attachment.synced();
    await attachment.filesSynced();
    const key = (await hearth("device", "--keyring", b.keyring)).stdout.trim();
    const { invitations } = await db.invite(key);
    await db.close();
    const joined = await hearth("join", point, "--ledger", "l", "--invitation", invitations[0]!, ...b.flags("l"));
    expect(joined.code, joined.stderr).toBe(0);
    const mine = await b.open("l");
    try {
      const file = (await mine.get("photo"))._files!["p.bin"]!;
      const bytes = new Uint8Array(await (await file.file()).arrayBuffer());
      expect(Buffer.compare(bytes, content)).toBe(0);
    } finally {
      await mine.close();
    }
  });

  it("a refused token or an unreachable server fails with exit 1", async () => {
    const d = newDevice();
    const refused = await hearth("join", `${server.url}/${ledger}?token=htk_0123456789abcdef_${"A".repeat(43)}`, "--ledger", "l", ...d.flags("l"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("UNAUTHORIZED");
    const unreachable = await hearth("join", "http://127.0.0.1:1/l?token=t", "--ledger", "l", "--timeout", "5s", ...d.flags("l"));
    expect(unreachable.code).toBe(1);
    // What to do, once: no promise of a retry that a one-shot command never makes.
    expect(unreachable.stderr).toContain("STORAGE_FAILED");
    expect(unreachable.stderr).toContain("then attach again");
    expect(unreachable.stderr).not.toContain("retried");
  });
});
