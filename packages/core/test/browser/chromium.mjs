// What the browser runners share (run.mjs: the suites in one page;
// tabs.mjs: several pages of one origin): bundling a page script for the
// browser, serving it from 127.0.0.1, and launching Debian's Chromium
// through playwright-core (which never downloads a browser of its own).
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { relative } from "node:path";

const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** esbuild plugin: refuse `node:` imports with a message that names the importer. */
const forbidNodeBuiltins = {
  name: "forbid-node-builtins",
  setup(builder) {
    builder.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [
        {
          text: `"${args.path}" is a Node built-in, imported by ${relative(process.cwd(), args.importer)}; code bundled for browsers must not use Node built-ins (move it to a Node-only file)`,
        },
      ],
    }));
  },
};

/**
 * Bundles `entry` for the browser (`extra`: more esbuild options, e.g.
 * `define`, `jsx`, `alias`); any `node:` import reachable from it fails the build (the guard that core stays browser-safe outside its
 * Node-only files). Rejects with esbuild's error, whose `errors` name the
 * files and lines.
 */
export async function bundleForBrowser(entry, extra = {}) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    sourcemap: "inline",
    logLevel: "silent",
    ...extra,
    plugins: [forbidNodeBuiltins],
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error("esbuild produced no output");
  return output.contents;
}

/** The message of an esbuild failure (each error with its file and line), or of any other error. */
export function bundleFailure(err) {
  const messages = err.errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ""}${e.text}`);
  return messages?.join("\n") ?? String(err);
}

/**
 * Serves `script` as `/entry.js` under a one-line page at `/`, from an
 * HTTP server on 127.0.0.1 (a free port), so IndexedDB and Web Locks get a
 * real, secure origin (localhost). Resolves with the listening server.
 */
export function serveScript(script, title) {
  const page = `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="/entry.js"></script>\n`;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else if (path === "/entry.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    } else if (path === "/favicon.ico") {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/**
 * Bundles `entry` (see {@link bundleForBrowser}) and serves it (see
 * {@link serveScript}). Resolves `{ server, url }`, or `undefined` after
 * reporting a bundle failure through `fail(name, detail)`.
 */
export async function serveBundle(entry, title, fail, extra = {}) {
  let script;
  try {
    script = await bundleForBrowser(entry, extra);
  } catch (err) {
    fail(`bundle ${entry} for the browser`, bundleFailure(err));
    return undefined;
  }
  const server = await serveScript(script, title);
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** Launches headless Chromium (`$CHROMIUM_PATH`, default Debian's `/usr/bin/chromium`); rejects with how to install it. */
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  try {
    return await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  } catch (err) {
    throw new Error(`cannot launch Chromium at ${executablePath}: ${err.message}\n(install it with: apt-get install -y chromium, or set CHROMIUM_PATH)`);
  }
}

/** Indents every line of `text` by four spaces (details under a result line). */
export function indent(text) {
  return String(text)
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
