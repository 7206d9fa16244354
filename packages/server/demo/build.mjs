// Builds the app page into packages/server/demo/dist/ (gitignored), which
// `hearth serve --demo` serves at /demo/: the React app (page/main.tsx)
// bundled with React, @hearth/react and the browser build of @hearth/core by esbuild (any Node built-in reachable from
// it fails the build), plus the HTML and CSS. Each file is written to a temp
// name and renamed, so a server already serving the directory (or a second
// build running at once) never reads a half-written file.
//
// Run directly (`node packages/server/demo/build.mjs`) or through `npm start`.
import { build } from "esbuild";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where the built page goes. */
export const DEMO_DIST = join(HERE, "dist");

/** esbuild plugin: browser code must not import Node built-ins. */
const forbidNodeBuiltins = {
  name: "forbid-node-builtins",
  setup(builder) {
    builder.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: `${args.path} imported by ${args.importer}: no Node built-ins in browser code` }] }));
  },
};

/** Builds the page; resolves with the output directory. */
export async function buildDemo() {
  const result = await build({
    entryPoints: [join(HERE, "page", "main.tsx")],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: "external",
    outfile: join(DEMO_DIST, "app.js"),
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"production"' },
    write: false,
    logLevel: "silent",
    plugins: [forbidNodeBuiltins],
  });
  await mkdir(DEMO_DIST, { recursive: true });
  const files = result.outputFiles.map((f) => [f.path, f.contents]);
  for (const name of ["index.html", "style.css"]) files.push([join(DEMO_DIST, name), await readFile(join(HERE, "page", name))]);
  for (const [path, contents] of files) {
    const temp = `${path}.tmp-${process.pid}`;
    await writeFile(temp, contents);
    await rename(temp, path);
  }
  return DEMO_DIST;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = await buildDemo();
  console.log(`demo page built in ${dir}`);
}
