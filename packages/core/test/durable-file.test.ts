// The one atomic, durable file write (src/platform/durable-file.ts) that the
// keyring, the server's tokens, `hearth export` and the holder record share.
import * as fs from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createAtomicFile, syncDirectory, TEMP_PREFIX, writeFileAtomic, writeTempFile } from "../src/store/durable-file.js";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hearth-durable-"));
  dirs.push(dir);
  return dir;
}
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("writeFileAtomic", () => {
  it("creates and replaces whole files, owner-only, leaving no temp behind", async () => {
    const dir = await freshDir();
    const path = join(dir, "a.json");
    expect(await writeFileAtomic(path, utf8("one"))).toBe(true);
    expect(await writeFileAtomic(path, utf8("two"), { durable: false })).toBe(true);
    expect(await readFile(path, "utf8")).toBe("two");
    if (process.platform !== "win32") expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["a.json"]);
  });

  it('"keep" creates only if absent: a second writer reports false and changes nothing', async () => {
    const dir = await freshDir();
    const path = join(dir, "identity.json");
    expect(await writeFileAtomic(path, utf8("first"), { ifExists: "keep" })).toBe(true);
    expect(await writeFileAtomic(path, utf8("second"), { ifExists: "keep" })).toBe(false);
    expect(await readFile(path, "utf8")).toBe("first");
    // Racing creators: exactly one wins, and the file is whole.
    const race = join(dir, "race.json");
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => writeFileAtomic(race, utf8(`writer ${i}`.repeat(1000)), { ifExists: "keep" })));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    const winner = outcomes.indexOf(true);
    expect(await readFile(race, "utf8")).toBe(`writer ${winner}`.repeat(1000));
    expect((await readdir(dir)).sort()).toEqual(["identity.json", "race.json"]);
  });

  it("a failure leaves the old file and no temp", async () => {
    const dir = await freshDir();
    const path = join(dir, "kept");
    await writeFileAtomic(path, utf8("old"));
    fs.mkdirSync(join(dir, "sub"));
    fs.writeFileSync(join(dir, "sub", "x"), "occupied");
    // Renaming a file over a non-empty directory fails.
    await expect(writeFileAtomic(join(dir, "sub"), utf8("new"))).rejects.toMatchObject({ code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST|EPERM/) });
    await expect(writeFileAtomic(join(dir, "missing", "x"), utf8("new"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(path, "utf8")).toBe("old");
    expect((await readdir(dir)).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });
});

describe("createAtomicFile", () => {
  it("nothing is visible until commit; abort leaves the path untouched", async () => {
    const dir = await freshDir();
    const path = join(dir, "export.ndjson");
    const file = await createAtomicFile(path, { mode: 0o644 });
    for (let i = 0; i < 100; i++) await file.write(utf8(`{"_id":"${i}"}\n`));
    expect(fs.existsSync(path)).toBe(false);
    expect(await file.commit()).toBe(true);
    expect((await readFile(path, "utf8")).split("\n")).toHaveLength(101);
    await expect(file.write(utf8("late"))).rejects.toThrow(/already committed/);

    const second = await createAtomicFile(path);
    await second.write(utf8("partial"));
    await second.abort();
    await second.abort();
    expect((await readFile(path, "utf8")).startsWith('{"_id":"0"}')).toBe(true);
    expect(await readdir(dir)).toEqual(["export.ndjson"]);
  });
});

describe("writeTempFile and syncDirectory", () => {
  it("write a whole exclusive temp file, durable or not; syncing a directory succeeds", async () => {
    const dir = await freshDir();
    await writeTempFile(join(dir, "~tmp-a"), utf8("a"), { durable: true });
    await writeTempFile(join(dir, "~tmp-b"), utf8("b"), { durable: false });
    await expect(writeTempFile(join(dir, "~tmp-a"), utf8("again"), { durable: true })).rejects.toMatchObject({ code: "EEXIST" });
    expect(await readFile(join(dir, "~tmp-a"), "utf8")).toBe("a");
    await syncDirectory(dir);
    await expect(syncDirectory(join(dir, "nope"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
