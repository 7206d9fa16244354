// The runnable examples of docs/patterns.md (examples/*.mjs), each in its
// own process as a user would run it (`node examples/inbox.mjs`), against
// the build `npm test` made: each checks its own outcome and exits 1 if a
// check fails.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));
const scripts = readdirSync(EXAMPLES).filter((file) => file.endsWith(".mjs") && !file.startsWith("_"));

describe("examples/", () => {
  it("holds the five patterns", () => {
    expect(scripts.sort()).toEqual(["inbox.mjs", "move-document.mjs", "per-user.mjs", "publication.mjs", "team-roles.mjs"]);
  });
  for (const script of scripts) {
    it(`${script} runs and its checks pass`, async () => {
      const { stdout } = await run(process.execPath, [script], { cwd: EXAMPLES, timeout: 60_000 });
      expect(stdout).toMatch(/^ok: /m);
      expect(stdout).not.toMatch(/^(?!ok: ).+/m);
    }, 90_000);
  }
});
