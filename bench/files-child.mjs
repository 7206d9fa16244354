// Child process of the files section: ONE side of ONE column, so a crash,
// hang or runaway heap costs that column's cells only, and each peak RSS
// (`process.resourceUsage().maxRSS`) is that side's alone. Usage:
//   node --expose-gc bench/files-child.mjs <raw|floor-a|floor-b|hearth-a|hearth-b|pouchdb> '<options as JSON>'
// The options are the ones the role's function takes (bench/files-raw.mjs,
// files-floor.mjs, files-hearth.mjs, files-pouchdb.mjs). Steps are reported as `@@bench`
// lines (bench/step.mjs); an error becomes an `error` step and exit code 1.
// `rss` is the peak RSS at the end of the role's timed part; `rssSoFar`
// is refreshed every second, for a child that never gets there.
import { runRawCopy } from "./files-raw.mjs";
import { runDeviceA, runDeviceB } from "./files-hearth.mjs";
import { runPouchCopy } from "./files-pouchdb.mjs";
import { runFloorA, runFloorB } from "./files-floor.mjs";
import { errorText, report } from "./step.mjs";

const ROLES = { raw: runRawCopy, "floor-a": runFloorA, "floor-b": runFloorB, "hearth-a": runDeviceA, "hearth-b": runDeviceB, pouchdb: runPouchCopy };

const [role, json] = process.argv.slice(2);
const run = ROLES[role];
if (!run || !json) {
  console.error(`usage: files-child.mjs <${Object.keys(ROLES).join("|")}> '<options as JSON>'`);
  process.exit(2);
}
process.on("unhandledRejection", (err) => report("unhandled", { error: errorText(err) }));
// The peak so far, every second: a child killed at its deadline still says how much memory it had taken.
setInterval(() => report("rssSoFar", { bytes: process.resourceUsage().maxRSS * 1024 }), 1000).unref();
try {
  await run(JSON.parse(json));
} catch (err) {
  report("error", { error: errorText(err) });
  console.error(err);
  process.exit(1);
}
// Engines may keep timers, watchers or open handles after close.
process.exit(0);
