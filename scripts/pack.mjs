// `npm run pack`: packs @hearth/core, @hearth/s3, @hearth/server, @hearth/react,
// @hearth/fireproof and @hearth/use-fireproof (after
// `npm run build`) into ./packs/ as npm tarballs, and prints the line that
// installs them in an app outside this repository (they are not on a
// registry). Give the directory with `--out <dir>`.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PACKAGES = ["core", "s3", "server", "react", "fireproof", "use-fireproof"];

const { values } = parseArgs({ options: { out: { type: "string" } }, strict: true });
const out = resolve(values.out ?? join(ROOT, "packs"));
mkdirSync(out, { recursive: true });
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
execFileSync(npm, ["pack", "--silent", ...PACKAGES.flatMap((p) => ["-w", `packages/${p}`]), "--pack-destination", out], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
const files = PACKAGES.map((p) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, "packages", p, "package.json"), "utf8"));
  return join(out, `hearth-${p}-${version}.tgz`);
});
process.stdout.write(`${files.join("\n")}\n`);
process.stderr.write(`\nInstall them in your app (all of them, or just the first for the database alone; the React packages want react 18 or later):\n  npm install ${files.join(" ")}\n`);
