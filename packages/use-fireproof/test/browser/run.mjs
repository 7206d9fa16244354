// Runs the example Fireproof app (example-app.tsx, driven by example-page.tsx) and the
// shapes check (shapes-page.tsx) in real headless Chromium twice each, unchanged: against
// `use-fireproof` aliased to @hearth/use-fireproof, and against the real use-fireproof
// (bench's dev dependency, pinned at 0.24.10); part of `npm run test:browser`. See
// ../../../core/test/browser/page-runner.mjs.
import { fileURLToPath } from "node:url";
import { REACT_PAGE, runPages } from "../../../core/test/browser/page-runner.mjs";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const HEARTH = { ...REACT_PAGE, alias: { "use-fireproof": "@hearth/use-fireproof" } };
// use-fireproof brings its own copy of React: one React in the page.
const FIREPROOF = { ...REACT_PAGE, absWorkingDir: ROOT, alias: { react: "./node_modules/react", "react-dom": "./node_modules/react-dom" } };
const pages = [];
for (const [what, file] of [["example app", "example-page.tsx"], ["hook and call shapes", "shapes-page.tsx"]]) {
  const entry = fileURLToPath(new URL(file, import.meta.url));
  pages.push({ label: `${what} on @hearth/use-fireproof`, entry, bundle: HEARTH });
  pages.push({ label: `${what} on use-fireproof 0.24.10`, entry, bundle: FIREPROOF });
}
await runPages(pages);
