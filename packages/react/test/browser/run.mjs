// Runs @hearth/react's hook tests (hooks-page.tsx) in real headless Chromium; part of
// `npm run test:browser`. See ../../../core/test/browser/page-runner.mjs.
//
// React 19 only (the dev dependency): an aliased React 18 (react-18 / react-dom-18)
// cannot sit in this workspace's lockfile beside 19, because react-dom 18's peer
// dependency on react 18 conflicts with the root's react 19 (npm ERESOLVE).
import { fileURLToPath } from "node:url";
import { REACT_PAGE, runPages } from "../../../core/test/browser/page-runner.mjs";

await runPages([{ label: "React 19", entry: fileURLToPath(new URL("hooks-page.tsx", import.meta.url)), bundle: REACT_PAGE }]);
