/**
 * Child processes in tests run plain Node 20, which cannot load TypeScript:
 * fixtures (and the core modules they use) are bundled to one ESM file first.
 */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/** Bundles `entry` (a URL relative to the caller, e.g. `new URL("./fixtures/x.ts", import.meta.url)`) to `outfile`. */
export async function bundleForNode(entry: URL, outfile: string): Promise<string> {
  await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
  });
  return outfile;
}
