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
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export { ReplicaProcess, type ReplicaDump } from "../../../core/test/helpers/replica-process.js";

/**
 * Bundles the replica fixture into `dir`; returns the file to run with
 * `node`. `ws` is CommonJS, so the ESM bundle gets a real `require` for
 * Node's own modules; its optional native add-ons stay out.
 */
export async function bundleReplica(dir: string): Promise<string> {
  const outfile = join(dir, "sync-replica.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("../../../core/test/fixtures/sync-replica.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
    banner: { js: 'import { createRequire as __hearthRequire } from "node:module"; const require = __hearthRequire(import.meta.url);' },
    external: ["bufferutil", "utf-8-validate"],
  });
  return outfile;
}
