// The files section's PouchDB 9 column, in a child process of its own
// (bench/files-child.mjs): two leveldb databases in one process; A gets a
// document holding the source file as an attachment (`putAttachment` with a
// Buffer read from the file), then `PouchDB.replicate(A, B)` runs once, to
// completion. One hop, no server and no encryption: PouchDB's best case.
// Both are opened with `deterministic_revs: false`: by default PouchDB
// computes a revision from `JSON.stringify(doc)`, Buffer included, which
// dies between 64 and 128 MiB (bench/README.md, files section).
// The bytes are read back from B and hashed outside the clock.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { epochMs } from "./files-handoff.mjs";
import { report } from "./step.mjs";

const DOC_ID = "movie";
const FILE_NAME = "movie.bin";

/** @param {{ dir: string, source: string, sha256: string, bytes: number }} options */
export async function runPouchCopy({ dir, source, sha256, bytes }) {
  const { default: PouchDB } = await import("pouchdb");
  const a = new PouchDB(path.join(dir, "pouch-a"), { deterministic_revs: false });
  const b = new PouchDB(path.join(dir, "pouch-b"), { deterministic_revs: false });
  await Promise.all([a.info(), b.info()]);

  const startAt = epochMs();
  await a.putAttachment(DOC_ID, FILE_NAME, await readFile(source), "application/octet-stream");
  const putAt = epochMs();
  report("put", { startAt, endAt: putAt, ms: putAt - startAt, bytes });
  report("rssAfterPut", { bytes: process.resourceUsage().maxRSS * 1024 });
  const result = await PouchDB.replicate(a, b);
  const doneAt = epochMs();
  report("received", { doneAt, docsWritten: result.docs_written, ok: result.ok });
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });

  const t0 = epochMs();
  const got = await b.getAttachment(DOC_ID, FILE_NAME);
  const digest = createHash("sha256").update(got).digest("hex");
  const fields = { ms: epochMs() - t0, bytes: got.length, sha256: digest };
  if (digest !== sha256 || got.length !== bytes) fields.error = `B's copy differs: ${got.length} bytes, sha256 ${digest}`;
  report("verify", fields);
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
  await Promise.all([a.close(), b.close()]);
}
