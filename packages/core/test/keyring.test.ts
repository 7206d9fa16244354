import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64Url } from "../src/crypto/encoding.js";
import { fingerprintOf } from "../src/crypto/fingerprint.js";
import { HearthError } from "../src/errors.js";
import { fileKeyringDirFromUrl, openFileKeyring } from "../src/keyring/file.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import type { Fingerprint } from "../src/keyring/types.js";
import { keyringConformance } from "../src/testing/keyring-suite.js";
import { expectCode } from "./helpers/expect-code.js";
import { bundleForNode } from "./helpers/bundle.js";

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hearth-keyring-"));
  tempDirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});


const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe("memory keyring conformance", () => {
  let n = 0;
  for (const c of keyringConformance({
    label: "memory",
    open: async () => {
      const url = `memory://keyring-suite-${process.pid}-${n++}`;
      return { keyring: await openMemoryKeyring(url), reopen: () => openMemoryKeyring(url) };
    },
  })) {
    it(c.name, c.run);
  }
});

describe("file keyring conformance", () => {
  for (const c of keyringConformance({
    label: "file",
    open: async () => {
      const dir = join(await tempDir(), "keyring");
      return {
        keyring: await openFileKeyring(dir),
        reopen: () => openFileKeyring(dir),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  })) {
    it(c.name, c.run);
  }
});

describe("memory keyring", () => {
  it("a URL that is not memory:// is INVALID_URL", async () => {
    await expectCode(openMemoryKeyring("file:///tmp/x"), "INVALID_URL");
    await expectCode(openMemoryKeyring("memory://"), "INVALID_URL");
  });

  it("keyrings opened without a URL share nothing", async () => {
    const a = await openMemoryKeyring();
    const b = await openMemoryKeyring();
    expect(a.url).not.toBe(b.url);
    await a.createKey();
    expect(await b.listKeys()).toEqual([]);
    expect((await a.identity()).publicKey).not.toBe((await b.identity()).publicKey);
  });
});

describe("file keyring", () => {
  it("keeps the directory 0700 and every file 0600", async () => {
    const dir = join(await tempDir(), "nested", "keyring");
    const keyring = await openFileKeyring(dir);
    await keyring.identity();
    const key = await keyring.createKey("modes");
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, "keys"))).toBe(0o700);
    expect(await mode(join(dir, "identity.json"))).toBe(0o600);
    expect(await mode(join(dir, "keys", `${key.fingerprint}.json`))).toBe(0o600);
    await keyring.close();
  });

  it("opens from a file:// URL and reports its URL", async () => {
    const dir = await tempDir();
    const url = pathToFileURL(join(dir, "k")).href;
    expect(fileKeyringDirFromUrl(url)).toBe(join(dir, "k"));
    const keyring = await openFileKeyring(url);
    expect(keyring.url).toBe(url);
    await keyring.close();
  });

  it("a URL that is not file:// is INVALID_URL", () => {
    for (const bad of ["memory://x", "/plain/path", "file://remote-host/dir"]) {
      let err: unknown;
      try {
        fileKeyringDirFromUrl(bad);
      } catch (e) {
        err = e;
      }
      expect((err as HearthError).code, bad).toBe("INVALID_URL");
    }
  });

  it("a damaged key file is INTEGRITY; importing the key again repairs it", async () => {
    const dir = await tempDir();
    const keyring = await openFileKeyring(dir);
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const key = await keyring.importKey(raw);
    await keyring.close();
    await writeFile(join(dir, "keys", `${key.fingerprint}.json`), "{ not json");
    const fresh = await openFileKeyring(dir);
    await expectCode(fresh.getKey(key.fingerprint), "INTEGRITY");
    expect((await fresh.importKey(raw)).fingerprint).toBe(key.fingerprint);
    const again = await openFileKeyring(dir);
    expect((await again.getKey(key.fingerprint))?.fingerprint).toBe(key.fingerprint);
    await Promise.all([fresh.close(), again.close()]);
  });

  it("a key file holding another key is INTEGRITY", async () => {
    const dir = await tempDir();
    const keyring = await openFileKeyring(dir);
    const a = await keyring.createKey();
    await keyring.close();
    const { copyFile } = await import("node:fs/promises");
    const forged = "f".repeat(32) as Fingerprint;
    await copyFile(join(dir, "keys", `${a.fingerprint}.json`), join(dir, "keys", `${forged}.json`));
    const fresh = await openFileKeyring(dir);
    await expectCode(fresh.getKey(forged), "INTEGRITY");
    await fresh.close();
  });

  it("a damaged identity is INTEGRITY, not a silently new identity", async () => {
    const dir = await tempDir();
    const keyring = await openFileKeyring(dir);
    await keyring.identity();
    await keyring.close();
    await writeFile(join(dir, "identity.json"), '{"version":1}');
    const fresh = await openFileKeyring(dir);
    await expectCode(fresh.identity(), "INTEGRITY");
    await fresh.close();
  });

  it("records shareable keys in the key file; files without the flag hold local keys", async () => {
    const dir = await tempDir();
    const keyring = await openFileKeyring(dir);
    const shared = await keyring.createKey("point", { shareable: true });
    const local = await keyring.createKey("local");
    const keyFile = async (fp: string): Promise<Record<string, unknown>> =>
      JSON.parse(await readFile(join(dir, "keys", `${fp}.json`), "utf8")) as Record<string, unknown>;
    expect((await keyFile(shared.fingerprint)).shareable).toBe(true);
    expect(await keyFile(local.fingerprint)).not.toHaveProperty("shareable");

    // A key file as written before the flag existed.
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const old = await fingerprintOf(raw);
    const oldFile = { version: 1, key: toBase64Url(raw), label: "old", createdAt: "2024-01-01T00:00:00.000Z" };
    await writeFile(join(dir, "keys", `${old}.json`), JSON.stringify(oldFile), { mode: 0o600 });
    const kek = await globalThis.crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["wrapKey", "unwrapKey"]);
    const iv = new Uint8Array(12);
    const ad = new Uint8Array(1);
    expect((await keyring.getKey(old))?.fingerprint).toBe(old);
    await expectCode(keyring.wrapKey(old, kek, iv, ad), "INVALID_ARGUMENT");

    // Importing it as shareable adds the flag, keeping label and date, owner-only.
    await keyring.importKey(raw, "new label", { shareable: true });
    expect(await keyFile(old)).toEqual({ ...oldFile, shareable: true });
    expect(await mode(join(dir, "keys", `${old}.json`))).toBe(0o600);
    expect((await keyring.wrapKey(old, kek, iv, ad)).length).toBe(48);
    await keyring.close();
  });

  it("a key file whose shareable flag is not a boolean is INTEGRITY", async () => {
    const dir = await tempDir();
    const keyring = await openFileKeyring(dir);
    const key = await keyring.createKey(undefined, { shareable: true });
    await keyring.close();
    const path = join(dir, "keys", `${key.fingerprint}.json`);
    const file = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...file, shareable: "yes" }));
    const fresh = await openFileKeyring(dir);
    await expectCode(fresh.getKey(key.fingerprint), "INTEGRITY");
    await fresh.close();
  });

  it("getKey finds a key another keyring object added after the first lookup missed", async () => {
    const dir = await tempDir();
    const reader = await openFileKeyring(dir);
    const writer = await openFileKeyring(dir);
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const fp = await fingerprintOf(raw);
    expect(await reader.getKey(fp)).toBeUndefined();
    await writer.importKey(raw);
    expect((await reader.getKey(fp))?.fingerprint).toBe(fp);
    await Promise.all([reader.close(), writer.close()]);
  });
});

describe("file keyring across processes", () => {
  let writerScript: string;

  beforeAll(async () => {
    const outDir = await tempDir();
    writerScript = join(outDir, "keyring-writer.mjs");
    await bundleForNode(new URL("./fixtures/keyring-writer.ts", import.meta.url), writerScript);
  });

  /** Resolves with the next stdout line of `child`, or rejects on exit or after `ms`. */
  function lineReader(child: ChildProcessWithoutNullStreams): (ms: number) => Promise<string> {
    let buffered = "";
    let stderr = "";
    const lines: string[] = [];
    const waiters: Array<() => void> = [];
    let exited = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let at;
      while ((at = buffered.indexOf("\n")) >= 0) {
        lines.push(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
      }
      waiters.splice(0).forEach((w) => w());
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("exit", () => {
      exited = true;
      waiters.splice(0).forEach((w) => w());
    });
    return (ms) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child ${child.pid} said nothing for ${ms} ms; stderr: ${stderr}`)), ms);
        const poll = (): void => {
          const line = lines.shift();
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          } else if (exited) {
            clearTimeout(timer);
            reject(new Error(`child ${child.pid} exited with ${child.exitCode}; stderr: ${stderr}`));
          } else {
            waiters.push(poll);
          }
        };
        poll();
      });
  }

  it("two processes creating 50 keys each and racing for the identity lose nothing", async () => {
    const dir = join(await tempDir(), "shared-keyring");
    const children = [0, 1].map(() => spawn(process.execPath, [writerScript, dir, "50"], { stdio: "pipe" }));
    try {
      const readers = children.map(lineReader);
      expect(await Promise.all(readers.map((next) => next(20_000)))).toEqual(["ready", "ready"]);
      for (const child of children) child.stdin.write("go\n");
      const results = (await Promise.all(readers.map((next) => next(30_000)))).map(
        (line) => JSON.parse(line) as { identity: string; signing: string; keys: string[] },
      );
      await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
      expect(children.map((c) => c.exitCode)).toEqual([0, 0]);

      const [first, second] = results as [(typeof results)[0], (typeof results)[0]];
      expect(second.identity).toBe(first.identity);
      expect(second.signing).toBe(first.signing);
      const written = [...first.keys, ...second.keys].sort();
      expect(new Set(written).size).toBe(100);

      const keyring = await openFileKeyring(dir);
      expect(await keyring.listKeys()).toEqual(written);
      for (const fp of written) expect(await keyring.getKey(fp as Fingerprint)).toBeDefined();
      expect((await keyring.identity()).fingerprint).toBe(first.identity);
      expect(Buffer.from((await keyring.identity()).signingPublicKey).toString("base64")).toBe(first.signing);
      await keyring.close();
      // One identity file, one keys directory, and no temp file left behind.
      expect((await readdir(dir)).sort()).toEqual(["identity.json", "keys", "signing.json"]);
      expect((await readdir(join(dir, "keys"))).length).toBe(100);
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
