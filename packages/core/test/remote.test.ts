// The remote conformance suite on the memory and file remotes, and the name
// rules every remote enforces.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import { openFileRemote } from "../src/remote/file.js";
import { dropMemoryRemote, openMemoryRemote } from "../src/remote/memory.js";
import { assertRemoteName, assertRemotePrefix } from "../src/remote/types.js";
import { remoteConformance } from "../src/testing/remote-suite.js";
import { expectCode } from "./helpers/expect-code.js";

let memoryCounter = 0;

describe("memory remote", () => {
  const cases = remoteConformance({
    label: "memory",
    async open() {
      const url = `memory://remote-conformance-${process.pid}-${memoryCounter++}`;
      return { remote: await openMemoryRemote(url), openAnother: () => openMemoryRemote(url), cleanup: async () => dropMemoryRemote(url) };
    },
  });
  for (const c of cases) it(c.name, c.run);

  it("dropMemoryRemote frees the data; the next open starts empty", async () => {
    const url = "memory://remote-drop-test";
    const a = await openMemoryRemote(url);
    await a.put("x", new Uint8Array([1]));
    dropMemoryRemote(url);
    dropMemoryRemote(url); // dropping twice is fine
    expect(await a.list("")).toEqual([]);
    const b = await openMemoryRemote(url);
    expect(await b.get("x")).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it("watch calls never run inside the put, and changes coalesce", async () => {
    const remote = await openMemoryRemote("memory://remote-coalesce");
    let calls = 0;
    remote.watch?.("", () => calls++);
    const puts = [remote.put("a", new Uint8Array(1)), remote.put("b", new Uint8Array(1))];
    expect(calls).toBe(0);
    await Promise.all(puts);
    await new Promise((resolve) => setTimeout(resolve, 0)); // one macrotask: every queued microtask has run
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(2);
    await remote.close();
    dropMemoryRemote("memory://remote-coalesce");
  });

  it("rejects URLs of other schemes and non-byte values", async () => {
    await expectCode(openMemoryRemote("file:///tmp/x"), "INVALID_URL");
    await expectCode(openMemoryRemote("memory://"), "INVALID_URL");
    const remote = await openMemoryRemote("memory://remote-types");
    await expect(remote.put("a", "text" as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
    expect(() => remote.watch?.("", "nope" as unknown as () => void)).toThrow(TypeError);
    await remote.close();
  });
});

describe("file remote", () => {
  const root = mkdtempSync(join(tmpdir(), "hearth-remote-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let dirCounter = 0;
  const cases = remoteConformance({
    label: "file",
    async open() {
      const url = pathToFileURL(join(root, `case-${dirCounter++}`)).href;
      // A short poll keeps the nested-name watch case quick; fs.watch covers the rest.
      return { remote: await openFileRemote(url, { pollMs: 100 }), openAnother: () => openFileRemote(url, { pollMs: 100 }) };
    },
  });
  for (const c of cases) it(c.name, c.run);

  const polling = remoteConformance({
    label: "file (polling only, fsync)",
    async open() {
      const url = pathToFileURL(join(root, `poll-${dirCounter++}`)).href;
      const options = { pollMs: 20, useFsWatch: false, fsync: true };
      return { remote: await openFileRemote(url, options), openAnother: () => openFileRemote(url, options) };
    },
  });
  for (const c of polling.filter((p) => /watch|unsubscribe|round-trip|concurrent|second client/.test(p.name))) it(c.name, c.run);
});

describe("remote names", () => {
  const code = (fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return err instanceof HearthError ? err.code : String(err);
    }
  };

  it("accepts names of name characters in non-empty segments", () => {
    for (const ok of ["a", "bundle/bafy123", "head/x.y_z-1", "key/fp/share-1", ".hidden", "a/..b", "...", "x".repeat(255), `${"a".repeat(255)}/${"b".repeat(254)}/c`]) {
      expect(code(() => assertRemoteName(ok)), ok).toBeUndefined();
    }
  });

  it("refuses anything that could escape a directory or is not a plain name", () => {
    const bad: unknown[] = ["", "/a", "a/", "a//b", ".", "..", "../x", "a/../b", "a/./b", "a/..", "has space", "a\\b", "é", "a:b", "x".repeat(256), "x".repeat(513), 1, null, undefined, {}];
    for (const name of bad) expect(code(() => assertRemoteName(name)), String(name)).toBe("INVALID_ARGUMENT");
  });

  it("prefixes may be empty, end in / or mid-segment, but hold no . or .. segment", () => {
    for (const ok of ["", "head/", "head", "key/fp/", "a/.", "a/..", "a/..b/", ".x"]) expect(code(() => assertRemotePrefix(ok)), ok).toBeUndefined();
    for (const bad of ["../", "a/../b", "./", "a/./", "has space", "é", "x".repeat(513), 3, null]) {
      expect(code(() => assertRemotePrefix(bad)), String(bad)).toBe("INVALID_ARGUMENT");
    }
  });
});
