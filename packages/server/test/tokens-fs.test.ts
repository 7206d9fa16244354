/**
 * The filesystem backend's token store: the shared suite over one token
 * directory opened twice (a server and `hearth token create` in another
 * process), and its ledger index: built once for a directory written before
 * it existed, consulted without reading any token.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openFsTokens } from "../src/backend/fs/tokens.js";
import type { TokenStore } from "../src/backend/types.js";
import { describeTokenStore } from "./helpers/token-store-suite.js";
import { cleanup, tempDir } from "./helpers/server.js";

afterAll(() => cleanup());

const dir = join(tempDir("hearth-tokens-"), "tokens");
let stores: Promise<{ one: TokenStore; two: TokenStore }> | undefined;
let counter = 0;

describeTokenStore({
  label: "filesystem",
  stores: () => (stores ??= (async () => ({ one: await openFsTokens(dir), two: await openFsTokens(dir) }))()),
  ledger: (what) => `${what}-${++counter}`,
});

describe("filesystem token store: the ledger index", () => {
  it("a token directory from before the index gets it built at open; an unknown ledger then costs a stat, not a read of every token", async () => {
    const old = join(tempDir("hearth-tokens-old-"), "tokens");
    const writer = await openFsTokens(old);
    for (let i = 0; i < 30; i++) await writer.create({ ledger: `l${i % 3}`, rights: "read" });
    // As an older server left it: no index.
    fs.rmSync(join(old, "by-ledger"), { recursive: true });
    const reader = await openFsTokens(old);
    expect(fs.readdirSync(join(old, "by-ledger")).sort()).toEqual([".complete", "l0", "l1", "l2"]);
    for (const l of ["l0", "l1", "l2"]) expect(await reader.hasLedger(l)).toBe(true);
    // The answers come from the index alone: with every token file gone, a fresh instance still gives them.
    for (const file of fs.readdirSync(old)) if (file.endsWith(".json")) fs.rmSync(join(old, file));
    const fresh = await openFsTokens(old);
    expect(await fresh.hasLedger("l1")).toBe(true);
    expect(await fresh.hasLedger("nope")).toBe(false);
  });
});
