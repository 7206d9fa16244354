/**
 * `hearth serve`: runs the sync server until SIGINT or SIGTERM, then shuts
 * down gracefully (in-flight requests finish, watchers are told to
 * reconnect, the backend closes). A second signal during shutdown is not
 * waited for: the process exits at once.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HearthError } from "@hearth/core";
import { DEFAULT_MAX_BODY_BYTES } from "@hearth/core/wire";
import { openBackend } from "../../backend/open.js";
import { createServer } from "../../server.js";
import { BACKEND_FLAGS, BACKEND_HELP, backendOptions } from "../backend-options.js";
import { EXIT, parse, parsePort, parseSize, waitForSignal, type Command, UsageError } from "../io.js";

const DEFAULT_PORT = 8787;
/** Where the demo page is served. */
const DEMO_PATH = "/demo/";
/** The built demo page (`packages/server/demo/dist`, from `src/cli/commands` or `dist/cli/commands`). */
const DEMO_DIR = fileURLToPath(new URL("../../../demo/dist/", import.meta.url));

const HELP = `Usage: hearth serve [options]

Runs the Hearth sync server: HTTP + WebSocket, one JSON log line per request on stdout.
Clients attach to http://<host>:<port>/<ledger>?token=<token> (see \`hearth token create\`).

Options:
  --host <host>       interface to listen on (default 127.0.0.1; 0.0.0.0 to expose it)
  --port <port>       port (default ${DEFAULT_PORT}; 0 picks a free one)
  --max-body <size>   largest object accepted, e.g. 64MiB (default ${DEFAULT_MAX_BODY_BYTES / 1024 / 1024}MiB)
  --quota <size>      most bytes one ledger may take, e.g. 10GiB (default: no quota;
                      filesystem backend); writes past it get QUOTA_EXCEEDED
  --demo              also serve the demo page at ${DEMO_PATH} (built by \`npm start\`); open it
                      with #token=<read-write token of ledger demo> after the URL
${BACKEND_HELP}
  -h, --help          show this help

Stops gracefully on SIGINT (Ctrl-C) or SIGTERM.
Exit codes: 0 stopped cleanly, 1 failed to start or stop, 2 usage error.
`;

/** See the module docs. */
export const serve: Command = {
  name: "serve",
  summary: "run the sync server",
  async run(args, io) {
    const { values } = parse(args, { ...BACKEND_FLAGS, host: { type: "string" }, port: { type: "string" }, "max-body": { type: "string" }, quota: { type: "string" }, demo: { type: "boolean" } }, HELP);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const port = values.port === undefined ? DEFAULT_PORT : parsePort(values.port, HELP);
    const maxBodyBytes = values["max-body"] === undefined ? DEFAULT_MAX_BODY_BYTES : parseSize(values["max-body"], "--max-body", HELP);
    const quotaBytes = values.quota === undefined ? undefined : parseSize(values.quota, "--quota", HELP);
    if (values.demo && !existsSync(join(DEMO_DIR, "index.html"))) {
      throw new HearthError("NOT_FOUND", `the demo page is not built in ${DEMO_DIR}; build it with \`node packages/server/demo/build.mjs\` (npm start does)`);
    }
    const backend = await openBackend(backendOptions(values));
    if (quotaBytes !== undefined && !backend.objects.bytesOf) {
      await backend.close().catch(() => undefined);
      throw new UsageError("--quota needs the filesystem backend: this backend cannot measure a ledger's bytes", HELP);
    }
    let server;
    try {
      server = await createServer({
        backend, host: values.host ?? "127.0.0.1", port, maxBodyBytes,
        ...(quotaBytes !== undefined && { quotaBytes }),
        ...(values.demo && { staticFiles: { path: DEMO_PATH, dir: DEMO_DIR } }),
      });
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw err;
    }
    // Listen for signals before saying "listening": whoever reads that line
    // may stop the server at once, and a signal with no handler kills.
    const stopped = (io.waitForStop ?? waitForSignal)();
    io.stderr(`hearth serve: listening on ${server.url} (${backend.description}, max body ${maxBodyBytes} bytes${quotaBytes === undefined ? "" : `, quota ${quotaBytes} bytes per ledger`}); Ctrl-C to stop\n`);
    if (values.demo) io.stderr(`hearth serve: demo page at ${server.url}${DEMO_PATH} (append #token=<a read-write token of ledger demo>)\n`);
    const reason = await stopped;
    io.stderr(`hearth serve: ${reason}, shutting down\n`);
    const forced = (io.waitForStop ?? waitForSignal)().then((again) => {
      io.stderr(`hearth serve: ${again} again, exiting at once\n`);
      process.exit(EXIT.FAILURE);
    });
    void forced;
    await server.close();
    io.stderr("hearth serve: stopped\n");
    return EXIT.OK;
  },
};
