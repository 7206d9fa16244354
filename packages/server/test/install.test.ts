/**
 * The README's Install section, as a user outside this repository follows
 * it: pack the packages (`npm run pack`, here `scripts/pack.mjs` on the
 * build `npm test` made), install the tarballs into an empty project from
 * the npm registry's dependencies, run that project's `hearth serve` and
 * `hearth token create`, and sync two devices (separate keyrings, one
 * joining by share code) through it with a script that imports
 * `@hearth/core` by its package name.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { runCli, startServeProcess, type CliProcess } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, tempDir } from "./helpers/server.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
let server: { proc: CliProcess; url: string } | undefined;

afterAll(async () => {
  if (server) {
    server.proc.child.kill("SIGTERM");
    await withDeadline(server.proc.exited, 10_000, "hearth serve to stop").catch(() => server!.proc.child.kill("SIGKILL"));
  }
  await cleanup();
});

const APP = `
import { open } from "@hearth/core";
const [url, dir] = process.argv.slice(2);
const a = await open("todos", { store: \`file://\${dir}/a\`, keyring: \`file://\${dir}/keys-a\` });
const b = await open("todos", { store: \`file://\${dir}/b\`, keyring: \`file://\${dir}/keys-b\` });
const sa = await a.attach(url);
const shareCode = await sa.createShareCode();
const sb = await b.attach(url, { shareCode });
await a.put({ _id: "milk", title: "Buy milk" });
await sa.synced({ timeoutMs: 20000 });
await sb.synced({ timeoutMs: 20000 });
console.log(JSON.stringify(await b.get("milk")));
await Promise.all([a.close(), b.close()]);
`;

describe("installing the packed packages in an app outside the repository", () => {
  it("packs, installs, serves, mints a token and syncs two devices", async () => {
    const dir = tempDir("hearth-install-");
    const { stdout: packed } = await run(process.execPath, [join(ROOT, "scripts/pack.mjs"), "--out", join(dir, "packs")], { cwd: ROOT });
    const tarballs = packed.trim().split("\n");
    expect(tarballs.map((file) => file.slice(file.lastIndexOf("/") + 1))).toEqual([
      "hearth-core-0.1.0.tgz",
      "hearth-s3-0.1.0.tgz",
      "hearth-server-0.1.0.tgz",
      "hearth-react-0.1.0.tgz",
      "hearth-fireproof-0.1.0.tgz",
      "hearth-use-fireproof-0.1.0.tgz",
    ]);

    const app = join(dir, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    writeFileSync(join(app, "two-devices.mjs"), APP);
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    await run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs], { cwd: app });

    const cli = join(app, "node_modules/@hearth/server/dist/cli/main.js");
    const data = join(dir, "server-data");
    server = await startServeProcess(cli, ["--data", data, "--port", "0"]);
    const minted = await runCli(cli, ["token", "create", "--ledger", "todos", "--rights", "rw", "--data", data]);
    expect(minted.code, minted.stderr).toBe(0);
    const url = `${server.url}/todos?token=${minted.stdout.trim()}`;

    const { stdout } = await run(process.execPath, ["two-devices.mjs", url, join(dir, "devices")], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ _id: "milk", title: "Buy milk" });
    // The hooks and drop-in packages install beside them (react, their peer, comes with them) and import by name.
    const probe = 'const r = await import("@hearth/react"); const f = await import("@hearth/fireproof"); const u = await import("@hearth/use-fireproof"); console.log(typeof r.useLedger, typeof f.fireproof, typeof u.useFireproof)';
    const { stdout: hooks } = await run(process.execPath, ["--input-type=module", "-e", probe], { cwd: app });
    expect(hooks.trim()).toBe("function function function");
  }, 180_000);
});
