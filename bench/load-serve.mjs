// A diagnostic stand-in for `hearth serve`, used only when the load test is
// asked to vary what the CLI does not expose: the same createServer over
// the same filesystem backend, printing the same startup line, optionally
// without fsync or request logs, or with the backend wrapped to try a fix
// before anyone builds it:
//   --cache 1          verified tokens for 1 s, immutable objects (bundle/,
//                      head/: content-addressed) and listings in memory, so
//                      most requests touch no file at all
//   --quiet-deletes 1  deletes (announcements collected by writers) are not
//                      pushed to watchers, who have nothing to fetch for them
// None of this is a supported server; it measures what such changes would buy.
//   node bench/load-serve.mjs --data <dir> [--fsync 0|1] [--log 0|1] [--cache 0|1] [--quiet-deletes 0|1]
import { parseArgs } from "node:util";

const { createServer, openFsBackend, silentLogger } = await import("@hearth/server");

const flags = { data: { type: "string" }, fsync: { type: "string", default: "1" }, log: { type: "string", default: "1" }, cache: { type: "string", default: "0" }, "quiet-deletes": { type: "string", default: "0" } };
const { values } = parseArgs({ options: flags });
if (!values.data) {
  console.error("usage: node bench/load-serve.mjs --data <dir> [--fsync 0|1] [--log 0|1] [--cache 0|1] [--quiet-deletes 0|1]");
  process.exit(2);
}

/** Tokens verified in the last second are not read from disk again. */
function cachedTokens(tokens) {
  const verified = new Map();
  return Object.assign(Object.create(tokens), {
    async verify(token) {
      const hit = verified.get(token);
      if (hit && performance.now() - hit.at < 1000 && (hit.record.expiresAt === undefined || hit.record.expiresAt > Date.now())) return hit.record;
      const record = await tokens.verify(token);
      if (record) verified.set(token, { record, at: performance.now() });
      else verified.delete(token);
      return record;
    },
    hasLedger: (ledger) => tokens.hasLedger(ledger),
    create: (options) => tokens.create(options),
    list: (ledger) => tokens.list(ledger),
    revoke: (id) => tokens.revoke(id),
    close: () => tokens.close(),
  });
}

/** Content-addressed objects and listings from memory; every put and delete through this server keeps them current. */
function cachedObjects(objects, maxEntries = 50_000) {
  const bytes = new Map();
  const listings = new Map();
  const immutable = (name) => name.startsWith("bundle/") || name.startsWith("head/");
  const forget = (ledger) => {
    for (const key of listings.keys()) if (key.startsWith(`${ledger}\n`)) listings.delete(key);
  };
  const remember = (key, value) => {
    if (bytes.size >= maxEntries) bytes.delete(bytes.keys().next().value);
    bytes.set(key, value);
  };
  return {
    async put(ledger, name, value) {
      await objects.put(ledger, name, value);
      if (immutable(name)) remember(`${ledger}\n${name}`, value);
      forget(ledger);
    },
    async get(ledger, name) {
      const key = `${ledger}\n${name}`;
      if (bytes.has(key)) return bytes.get(key);
      const value = await objects.get(ledger, name);
      if (value !== undefined && immutable(name)) remember(key, value);
      return value;
    },
    async list(ledger, prefix) {
      const key = `${ledger}\n${prefix}`;
      const hit = listings.get(key);
      if (hit) return [...hit];
      const names = await objects.list(ledger, prefix);
      listings.set(key, names);
      return [...names];
    },
    async delete(ledger, name) {
      await objects.delete(ledger, name);
      bytes.delete(`${ledger}\n${name}`);
      forget(ledger);
    },
    close: () => objects.close(),
  };
}

/** Deleted names are not published: the route publishes right after the backend's delete, so the names are known. */
function quietDeletes(objects, notifier) {
  const deleted = new Set();
  return {
    objects: {
      ...objects,
      async delete(ledger, name) {
        await objects.delete(ledger, name);
        deleted.add(`${ledger}\n${name}`);
      },
    },
    notifier: {
      subscribe: (ledger, fn) => notifier.subscribe(ledger, fn),
      close: () => notifier.close(),
      async publish(ledger, names) {
        const kept = names.filter((n) => !deleted.delete(`${ledger}\n${n}`));
        if (kept.length > 0) await notifier.publish(ledger, kept);
      },
    },
  };
}

const base = await openFsBackend(values.data, { fsync: values.fsync !== "0" });
let backend = base;
if (values.cache === "1") backend = { ...backend, tokens: cachedTokens(backend.tokens), objects: cachedObjects(backend.objects) };
if (values["quiet-deletes"] === "1") backend = { ...backend, ...quietDeletes(backend.objects, backend.notifier) };
const server = await createServer({ backend, host: "127.0.0.1", port: 0, ...(values.log === "0" && { logger: silentLogger }) });
const variant = Object.entries(values).filter(([k]) => k !== "data").map(([k, v]) => `${k} ${v}`).join(", ");
process.stderr.write(`hearth serve: listening on ${server.url} (bench/load-serve.mjs: ${variant})\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
