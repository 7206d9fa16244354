// Runs core's portable suites in real headless Chromium (`npm run test:browser`).
//
// 1. Bundles test/browser/entry.ts with esbuild for the browser. Any `node:`
//    import reachable from it fails the build: that is the guard that core
//    stays browser-safe outside its Node-only files.
// 2. Serves the bundle and a one-line HTML page from an in-process HTTP
//    server on 127.0.0.1 (a free port), so IndexedDB gets a real origin, and
//    chooses a file in the page's file input once it has loaded.
// 3. Drives Debian's Chromium with playwright-core (page-runner.mjs): the
//    page reports each case through an exposed binding, and this script
//    prints one line per case and a final `N passed, N failed`, exiting
//    non-zero on any failure, on page or console errors, a crash, a
//    deadline, or if no case ran.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { runPages } from "./page-runner.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));

/** The file a user would choose (file-input-cases.ts checks it byte by byte). */
async function chooseFile(page) {
  const chosen = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let i = 0; i < chosen.length; i++) chosen[i] = (i * 7 + (i >> 8)) & 0xff;
  await page.setInputFiles("#hearth-file", { name: "lake.jpg", mimeType: "image/jpeg", buffer: chosen });
}

await runPages([
  {
    title: "Hearth browser tests",
    entry: join(HERE, "entry.ts"),
    deadlineMs: Number(process.env.HEARTH_BROWSER_DEADLINE_MS ?? 180_000),
    afterLoad: chooseFile,
  },
]);
