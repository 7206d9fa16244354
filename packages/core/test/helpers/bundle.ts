/**
 * Child processes in tests run plain Node 20, which cannot load TypeScript:
 * fixtures (and the core modules they use) are bundled to one ESM file first.
 */
import { build, type Plugin } from "esbuild";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Options of {@link bundleForNode}. */
export interface BundleOptions {
  /**
   * Modules left out of the bundle. When given, the bundle also gets a real
   * `require` for Node's own modules, which CommonJS dependencies bundled
   * into ESM (`ws`, `pg`) need; their optional native add-ons go here.
   */
  readonly external?: readonly string[];
}

const REQUIRE_SHIM = 'import { createRequire as __hearthRequire } from "node:module"; const require = __hearthRequire(import.meta.url);';

/**
 * Native add-ons load their binaries from their own folder, so they stay
 * out of every bundle, imported by absolute path (the bundle is written to
 * a temporary directory, where a bare name would not resolve).
 */
const NATIVE_PACKAGES = ["fs-native-extensions"];
const leaveNativeOut: Plugin = {
  name: "leave-native-add-ons-out",
  setup(builder) {
    const resolve = createRequire(import.meta.url).resolve;
    const filter = new RegExp(`^(${NATIVE_PACKAGES.join("|")})$`);
    builder.onResolve({ filter }, (args) => ({ path: resolve(args.path), external: true }));
  },
};

/** Bundles `entry` (a URL relative to the caller, e.g. `new URL("./fixtures/x.ts", import.meta.url)`) to `outfile`. */
export async function bundleForNode(entry: URL, outfile: string, options: BundleOptions = {}): Promise<string> {
  await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
    plugins: [leaveNativeOut],
    ...(options.external && { banner: { js: REQUIRE_SHIM }, external: [...options.external] }),
  });
  return outfile;
}
