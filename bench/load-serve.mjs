// A diagnostic stand-in for `hearth serve`, used only when the load test is
// asked to vary what the CLI does not expose: the same createServer over
// the same filesystem backend, printing the same startup line, optionally
// without fsync or request logs. (The token cache it once tried is built
// into the server now.) Not a supported server; it measures what fsync and
// logging cost.
//   node bench/load-serve.mjs --data <dir> [--fsync 0|1] [--log 0|1]
import { parseArgs } from "node:util";

const { createServer, openFsBackend, silentLogger } = await import("@hearth/server");

const flags = { data: { type: "string" }, fsync: { type: "string", default: "1" }, log: { type: "string", default: "1" } };
const { values } = parseArgs({ options: flags });
if (!values.data) {
  console.error("usage: node bench/load-serve.mjs --data <dir> [--fsync 0|1] [--log 0|1]");
  process.exit(2);
}

const backend = await openFsBackend(values.data, { fsync: values.fsync !== "0" });
const server = await createServer({ backend, host: "127.0.0.1", port: 0, ...(values.log === "0" && { logger: silentLogger }) });
const variant = Object.entries(values).filter(([k]) => k !== "data").map(([k, v]) => `${k} ${v}`).join(", ");
process.stderr.write(`hearth serve: listening on ${server.url} (bench/load-serve.mjs: ${variant})\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
