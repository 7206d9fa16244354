/**
 * Replicas in their own Node processes that sync through the sync server:
 * core's JSON-lines replica fixture (`core/test/fixtures/sync-replica.ts`,
 * driven by core's `ReplicaProcess`) bundled for plain Node. The same
 * fixture serves `file://` sync points in core's tests; only the bundle
 * differs, because attaching over HTTP loads `ws`.
 *
 * @module
 */
import { join } from "node:path";
import { bundleForNode } from "../../../core/test/helpers/bundle.js";

export { ReplicaProcess, type ReplicaDump } from "../../../core/test/helpers/replica-process.js";

/**
 * Bundles the replica fixture into `dir`; returns the file to run with
 * `node`. `ws` is CommonJS, so the ESM bundle gets a real `require` for
 * Node's own modules; its optional native add-ons stay out.
 */
export async function bundleReplica(dir: string): Promise<string> {
  return bundleForNode(new URL("../../../core/test/fixtures/sync-replica.ts", import.meta.url), join(dir, "sync-replica.mjs"), { external: ["bufferutil", "utf-8-validate"] });
}
