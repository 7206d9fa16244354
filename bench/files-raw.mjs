// The files section's physical bound: the source file copied to another
// file on the same disk with a plain stream copy (read → write, no fsync),
// in a child process of its own (bench/files-child.mjs).
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { epochMs } from "./files-handoff.mjs";
import { digestOfFile } from "./files-source.mjs";
import { report } from "./step.mjs";

/** @param {{ source: string, target: string, sha256: string, bytes: number }} options */
export async function runRawCopy({ source, target, sha256, bytes }) {
  const startAt = epochMs();
  await pipeline(createReadStream(source), createWriteStream(target));
  const doneAt = epochMs();
  report("copy", { startAt, doneAt, ms: doneAt - startAt, bytes });
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });
  const got = await digestOfFile(target);
  report("verify", got.sha256 === sha256 && got.bytes === bytes ? got : { ...got, error: `the copy differs: ${got.bytes} bytes, sha256 ${got.sha256}` });
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
}
