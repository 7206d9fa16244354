// The files section's Hearth devices, each run in a child process of its
// own (bench/files-child.mjs): A and B have their own file store and their
// own keyring (separate devices) and meet at one sync point (`file://` or
// `hearth serve`). They hand over B's public key, A's invitation and
// "attached" through files (bench/files-handoff.mjs). A puts the source
// file (from `fs.openAsBlob`) and waits until its blocks are at the point;
// B, attached with `files: "eager"`, waits for the document, then for
// `filesSynced()`, then (outside the clock) reads the file back as a
// stream and hashes it. Times are reported as epoch ms so the parent can
// subtract A's put start from B's finish.
import { openAsBlob } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { awaitHandOff, epochMs, handOff } from "./files-handoff.mjs";
import { digestOf } from "./files-source.mjs";
import { report } from "./step.mjs";

const DOC_ID = "movie";
const FILE_NAME = "movie.bin";
const HANDOFF_TIMEOUT_MS = 60_000;
const SYNCED_TIMEOUT_MS = 60_000;

async function openDevice(dir, name) {
  const { open } = await import("@hearth/core");
  return open(`files-${name}`, {
    store: pathToFileURL(path.join(dir, `${name}-store`)).href,
    keyring: pathToFileURL(path.join(dir, `${name}-keyring`)).href,
  });
}

/** Keeps the last progress event of an attachment, to report what moved. */
function trackProgress(attachment) {
  const seen = { last: undefined };
  attachment.on("progress", (p) => (seen.last = p));
  return seen;
}

/**
 * Device A: creates the sync point's key, invites B, puts the file, waits
 * until every block is at the point.
 * @param {{ dir: string, point: string, source: string, bytes: number, timeoutMs: number }} options
 */
export async function runDeviceA({ dir, point, source, bytes, timeoutMs }) {
  const db = await openDevice(dir, "a");
  const attachment = await db.attach(point);
  const progress = trackProgress(attachment);
  const { publicKey } = await awaitHandOff(dir, "b-device", HANDOFF_TIMEOUT_MS);
  const { invitations } = await db.invite(publicKey);
  await handOff(dir, "invitation", { invitation: invitations[0] });
  await awaitHandOff(dir, "b-attached", HANDOFF_TIMEOUT_MS);
  await attachment.synced({ timeoutMs: SYNCED_TIMEOUT_MS });

  const startAt = epochMs();
  await db.put({ _id: DOC_ID, _files: { [FILE_NAME]: await openAsBlob(source) } });
  const putAt = epochMs();
  report("put", { startAt, endAt: putAt, ms: putAt - startAt, bytes });
  await attachment.synced({ timeoutMs: SYNCED_TIMEOUT_MS });
  const docPushedAt = epochMs();
  await attachment.filesSynced({ timeoutMs });
  report("pushed", { docPushedAt, filesPushedAt: epochMs(), progress: progress.last });
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
  await attachment.detach();
  await db.close();
}

/**
 * Device B: hands over its public key, joins with A's invitation (eager
 * files), then times the arrival of A's file and checks its bytes.
 * @param {{ dir: string, point: string, sha256: string, bytes: number, timeoutMs: number }} options
 */
export async function runDeviceB({ dir, point, sha256, bytes, timeoutMs }) {
  const db = await openDevice(dir, "b");
  let seen;
  const docSeen = new Promise((resolve) => (seen = resolve));
  const unsubscribe = db.subscribe((docs) => {
    if (docs.some((d) => d._id === DOC_ID)) seen(epochMs());
  });
  await handOff(dir, "b-device", { publicKey: (await db.device()).publicKey });
  const { invitation } = await awaitHandOff(dir, "invitation", HANDOFF_TIMEOUT_MS);
  const attachment = await db.attach(point, { invitation, files: "eager" });
  const progress = trackProgress(attachment);
  await attachment.synced({ timeoutMs: SYNCED_TIMEOUT_MS });
  await handOff(dir, "b-attached", {});

  const docAt = await docSeen;
  unsubscribe();
  await attachment.filesSynced({ timeoutMs });
  const doneAt = epochMs();
  const received = { docAt, doneAt, progress: progress.last };
  // filesSynced must have meant "downloaded", not "nothing wanted yet".
  if ((progress.last?.fetched ?? 0) < bytes) received.error = `filesSynced resolved after ${progress.last?.fetched ?? 0} of ${bytes} bytes fetched`;
  report("received", received);
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });

  // Outside the clock: every byte read back from B's own store.
  const t0 = epochMs();
  const file = (await db.get(DOC_ID))._files[FILE_NAME];
  const got = await digestOf(file.stream());
  const fields = { ms: epochMs() - t0, bytes: got.bytes, sha256: got.sha256 };
  if (got.sha256 !== sha256 || got.bytes !== bytes) fields.error = `B's copy differs: ${got.bytes} bytes, sha256 ${got.sha256}; expected ${bytes}, ${sha256}`;
  report("verify", fields);
  report("maxRSS", { bytes: process.resourceUsage().maxRSS * 1024 });
  await attachment.detach();
  await db.close();
}
