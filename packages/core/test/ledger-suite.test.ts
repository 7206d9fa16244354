import { afterAll, describe, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "../src/index.node.js";
import { ledgerConformance } from "../src/testing/ledger-suite.js";

const dir = mkdtempSync(join(tmpdir(), "hearth-ledger-suite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe("ledger conformance: memory", () => {
  for (const c of ledgerConformance({
    label: "memory",
    async open() {
      const name = `suite-${++n}-${Math.random().toString(36).slice(2)}`;
      const options = { store: `memory://${name}`, keyring: `memory://${name}-keys` };
      return {
        db: await open(name, options),
        reopen: () => open(name, options),
        openWithOtherKeyring: () => open(name, { ...options, keyring: `memory://${name}-other` }),
      };
    },
  })) it(c.name, c.run);
});

describe("ledger conformance: file", () => {
  for (const c of ledgerConformance({
    label: "file",
    async open() {
      const sub = `l${++n}`;
      const options = { store: `file://${dir}/${sub}`, keyring: `file://${dir}/${sub}-keys` };
      return {
        db: await open(sub, options),
        reopen: () => open(sub, options),
        openWithOtherKeyring: () => open(sub, { ...options, keyring: `file://${dir}/${sub}-other` }),
      };
    },
  })) it(c.name, c.run);
});
