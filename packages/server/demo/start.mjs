// `npm start` (after `npm run build`): the sync server with the demo page.
//
// 1. Builds the demo page (demo/build.mjs) into demo/dist/.
// 2. Makes sure ledger "demo" has a read-write token, reusing the one kept
//    in <data>/demo-token (owner-only) while the server still accepts it:
//    the server stores only token hashes, so the demo keeps its own copy to
//    print the same URL on every start.
// 3. Runs `hearth serve --demo` in this process on the filesystem backend
//    in <data> (default ./hearth-data, the hearth CLI's own default, so
//    `hearth token create --ledger L` run beside it mints tokens this
//    server accepts), on 127.0.0.1:8787, or on a free
//    port when 8787 is taken, and prints the page URL with the token in its
//    fragment (#token=…, never sent to the server, so never in its logs).
//
// Options: --data <dir>, --host <host>, --port <port> (0: any free port),
// --reset (forget the demo sync point and its token first: for when no
// browser holds the list's key any more). Ctrl-C stops the server.
import { chmod, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildDemo } from "./build.mjs";
import { DEFAULT_DATA_DIR, openFsBackend } from "../dist/index.js";
import { run } from "../dist/cli/run.js";

const LEDGER = "demo";
const DEFAULT_PORT = 8787;

const { values } = parseArgs({
  options: { data: { type: "string" }, host: { type: "string" }, port: { type: "string" }, reset: { type: "boolean" } },
  strict: true,
});
const data = resolve(values.data ?? DEFAULT_DATA_DIR);
const host = values.host ?? "127.0.0.1";
const tokenFile = join(data, "demo-token");

/** The demo token: the kept one if the server still accepts it, else a fresh one (kept for next time). */
async function demoToken() {
  const backend = await openFsBackend(data);
  try {
    const kept = (await readFile(tokenFile, "utf8").catch(() => "")).trim();
    if (kept !== "") {
      const record = await backend.tokens.verify(kept);
      if (record?.ledger === LEDGER && record.rights === "read-write") return kept;
    }
    const { token } = await backend.tokens.create({ ledger: LEDGER, rights: "read-write" });
    const temp = `${tokenFile}.tmp-${process.pid}`;
    await writeFile(temp, `${token}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, tokenFile);
    return token;
  } finally {
    await backend.close();
  }
}

/** Runs `hearth serve --demo` on `port`; resolves its exit code, and whether it failed because the port was taken. */
async function serve(port, token) {
  let early = "";
  let listening = false;
  const code = await run(["serve", "--demo", "--data", data, "--host", host, "--port", String(port)], {
    stdout: (text) => void process.stdout.write(text),
    stderr(text) {
      if (listening) return void process.stderr.write(text);
      early += text;
      const match = /demo page at (http:\/\/\S+)\/demo\//.exec(early);
      if (!match) return;
      listening = true;
      process.stderr.write(early);
      process.stderr.write(banner(match[1], token));
    },
  });
  if (!listening) {
    if (/EADDRINUSE/.test(early)) return { code, taken: true };
    process.stderr.write(early);
  }
  return { code, taken: false };
}

function banner(url, token) {
  return `
Hearth demo: a shared list, end-to-end encrypted, synced through this server.

  open   ${url}/demo/#token=${token}
  token  ${token}
         (read-write, ledger "${LEDGER}"; kept in ${tokenFile})

Open the URL in two windows of one browser: one device, they sync at once.
In another browser or a private window (another device), press Share in the
first window and paste the code into "Join with code".
Data: ${data}. Request logs follow as JSON lines. Ctrl-C to stop.

`;
}

if (values.reset) {
  await rm(join(data, "ledgers", LEDGER), { recursive: true, force: true });
  await rm(tokenFile, { force: true });
  process.stderr.write(`demo: forgot the "${LEDGER}" sync point and its token in ${data}\n`);
}
const dist = await buildDemo();
process.stderr.write(`demo: page built in ${dist}\n`);
const token = await demoToken();
const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
let result = await serve(port, token);
if (result.taken && values.port === undefined) {
  process.stderr.write(`demo: port ${DEFAULT_PORT} is taken; using a free one\n`);
  result = await serve(0, token);
}
if (result.taken) process.stderr.write(`demo: port ${port} is taken; pass --port <another> (0 picks a free one)\n`);
process.exitCode = result.code;
