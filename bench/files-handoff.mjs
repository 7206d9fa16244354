// How the files section's two device processes meet: small files in their
// shared directory, written whole (temp file, then rename) by one and polled
// for by the other. Also the clock both read, so that a time taken in one
// process can be subtracted from a time taken in the other.
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

const POLL_MS = 10;

/** Milliseconds since the epoch with sub-millisecond resolution: comparable across processes of one machine. */
export function epochMs() {
  return performance.timeOrigin + performance.now();
}

/** Leaves `value` (JSON) under `name` in `dir` for the other process. */
export async function handOff(dir, name, value) {
  const file = path.join(dir, `${name}.json`);
  await writeFile(`${file}.tmp`, JSON.stringify(value));
  await rename(`${file}.tmp`, file);
}

/** Waits until the other process left `name` in `dir`; resolves its value. */
export async function awaitHandOff(dir, name, timeoutMs) {
  const file = path.join(dir, `${name}.json`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return JSON.parse(await readFile(file, "utf8"));
    } catch (err) {
      if (err?.code !== "ENOENT") throw err;
    }
    if (Date.now() > deadline) throw new Error(`the other device did not hand over ${name} within ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
  }
}
