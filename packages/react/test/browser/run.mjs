// Runs @hearth/react's hook tests (hooks-page.tsx) in real headless Chromium, against
// React 19 (the workspace's) and React 18; part of `npm run test:browser`. See
// ../../../core/test/browser/page-runner.mjs.
//
// React 18 has its own install in ../react18 (react-dom 18's peer dependency on react 18
// cannot sit in the workspace's lockfile beside React 19: npm ERESOLVE); this runner
// makes it (`npm ci` there, from its own lockfile) when it is missing, and bundles the
// page a second time with react and react-dom aliased to it.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { REACT_PAGE, runPages } from "../../../core/test/browser/page-runner.mjs";

const entry = fileURLToPath(new URL("hooks-page.tsx", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const REACT18 = fileURLToPath(new URL("../react18/", import.meta.url));
if (!existsSync(`${REACT18}node_modules/react-dom/package.json`)) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  execFileSync(npm, ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--silent"], { cwd: REACT18, stdio: ["ignore", "ignore", "inherit"] });
}
const react18 = "./packages/react/test/react18/node_modules";
await runPages([
  { label: "React 19", entry, bundle: REACT_PAGE },
  { label: "React 18", entry, bundle: { ...REACT_PAGE, absWorkingDir: ROOT, alias: { react: `${react18}/react`, "react-dom": `${react18}/react-dom` } } },
]);
