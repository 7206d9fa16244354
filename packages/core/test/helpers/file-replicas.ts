/**
 * Replica processes meeting at a `file://` sync point, for the
 * cross-process sync tests: registers the vitest hooks that bundle the
 * replica script once per file, stop every replica after each test, and
 * remove the temp directory at the end.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll } from "vitest";
import { bundleForNode } from "./bundle.js";
import { ReplicaProcess } from "./replica-process.js";

/** What a test file gets from {@link useFileReplicas}. */
export interface FileReplicas {
  /** A fresh directory for one test's replicas, and the URL of its shared sync point directory. */
  point(): { dir: string; url: string };
  /** Starts replica `name` under `dir` (stopped after the test). */
  start(dir: string, name: string): Promise<ReplicaProcess>;
}

/** Registers the hooks; `label` names the temp directory. */
export function useFileReplicas(label: string): FileReplicas {
  let root = "";
  let script = "";
  let counter = 0;
  const running = new Set<ReplicaProcess>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), `hearth-${label}-`));
    script = join(root, "sync-replica.mjs");
    await bundleForNode(new URL("../fixtures/sync-replica.ts", import.meta.url), script);
  });

  afterEach(async () => {
    await Promise.all([...running].map((p) => p.stop()));
    running.clear();
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  return {
    point() {
      const dir = join(root, `t${counter++}`);
      return { dir, url: pathToFileURL(join(dir, "sync-point")).href };
    },
    async start(dir, name) {
      const replica = await ReplicaProcess.start(script, dir, name);
      running.add(replica);
      return replica;
    },
  };
}
