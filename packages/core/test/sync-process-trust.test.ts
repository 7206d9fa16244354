/**
 * Trust across processes over a `file://` sync point: roles, removal,
 * rotation after removal, a share code replayed by the point, and a point
 * rolling its membership log back (`helpers/process-trust-suite.ts`). Every
 * replica is its own Node process with its own store and keyring directory;
 * the test acts as the point's operator by opening the shared directory
 * itself, as anyone with access to it could.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll } from "vitest";
import { openFileRemote } from "../src/remote/file.js";
import { bundleForNode } from "./helpers/bundle.js";
import { describeTrustAcrossProcesses } from "./helpers/process-trust-suite.js";
import { ReplicaProcess } from "./helpers/replica-process.js";

let root = "";
let script = "";
let counter = 0;
const running = new Set<ReplicaProcess>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hearth-sync-process-trust-"));
  script = join(root, "sync-replica.mjs");
  await bundleForNode(new URL("./fixtures/sync-replica.ts", import.meta.url), script);
});

afterEach(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  running.clear();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeTrustAcrossProcesses("sync trust across processes, over a file:// sync point (separate keyrings)", {
  async point() {
    const dir = join(root, `t${counter++}`);
    return { dir, url: pathToFileURL(join(dir, "sync-point")).href };
  },
  async start(dir, name) {
    const replica = await ReplicaProcess.start(script, dir, name);
    running.add(replica);
    return replica;
  },
  raw: (url) => openFileRemote(url),
});
