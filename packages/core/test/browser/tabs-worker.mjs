// A page and a dedicated worker of one origin share one database (tabs-worker-page.ts,
// one script for both); part of `npm run test:browser`. See page-runner.mjs.
import { fileURLToPath } from "node:url";
import { runPages } from "./page-runner.mjs";

await runPages([{ label: "tabs (worker)", entry: fileURLToPath(new URL("tabs-worker-page.ts", import.meta.url)) }]);
