// The store conformance suite, run on every Node store: memory and file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { openFileStore } from "../src/store/file.js";
import { openMemoryStore } from "../src/store/memory.js";
import { storeConformance } from "../src/testing/store-suite.js";

let memoryCounter = 0;

describe("memory store", () => {
  const cases = storeConformance({
    label: "memory",
    async open() {
      const url = `memory://conformance-${process.pid}-${memoryCounter++}`;
      return { store: await openMemoryStore(url), reopen: () => openMemoryStore(url) };
    },
  });
  for (const c of cases) it(c.name, c.run);
});

describe("file store", () => {
  const root = mkdtempSync(join(tmpdir(), "hearth-store-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let dirCounter = 0;
  const cases = storeConformance({
    label: "file",
    async open() {
      const dir = join(root, `case-${dirCounter++}`);
      return { store: await openFileStore(dir), reopen: () => openFileStore(dir) };
    },
  });
  for (const c of cases) it(c.name, c.run);
});
