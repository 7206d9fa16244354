// The files section's floor: the work any design meeting issue 12's rules
// must do to move the file A → sync point → B, and nothing else: no
// database, no documents, no sync protocol, no bookkeeping. What a real
// system adds comes on top, so a Hearth column can be judged against what
// this machine allows, not only against the raw copy.
//
// The required work, per 1 MiB chunk (the same chunking and sealing as
// packages/core/src/files/blocks.ts):
//   A: read the chunk; SHA-256 it (the chunk key is derived from it, which
//      is what stores a file twice once); HMAC for the key; AES-256-GCM;
//      SHA-256 of the sealed bytes (the name the point and B check);
//      append to A's own store; store at the point.
//   point (serve only): hash the body on the way, write it, serve it.
//   B: read the block from the point; SHA-256 to check it against its
//      name; append to B's own store.
// B fetches each block as soon as it lands at the point, in parallel with
// A: the best overlap there is, better than any real B can do, since a real
// B learns a block's name only from the signed document naming its file,
// written when A's put is done (`BENCH_FILES_FLOOR_B=after-put` makes the
// floor's B wait for that). Every write is a
// plain append or a temp file renamed into place, with no fsync, as in
// the raw copy. Roles run in child processes (bench/files-child.mjs); the
// serve variant's point is a bare HTTP server in the bench's own process
// (bench/files.mjs), which is otherwise idle while it runs.
import { createHash, createHmac, createCipheriv, randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readSync, renameSync, writeSync, writevSync } from "node:fs";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { awaitHandOff, epochMs, handOff } from "./files-handoff.mjs";
import { report } from "./step.mjs";

const CHUNK = 1024 * 1024;
const IN_FLIGHT = 8;
const DONE = "done";
const IDLE_POLL_MS = 1;
const HANDOFF_TIMEOUT_MS = 60_000;

const sha256 = (...parts) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
};

/** A sync point the floor's devices talk to: a directory, or the floor server's URL. */
function pointOf(point) {
  if (point.startsWith("http://")) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const request = (method, name, body) =>
      new Promise((resolve, reject) => {
        const req = http.request(`${point}/${name}`, { method, agent, headers: body ? { "content-length": body.reduce((n, b) => n + b.length, 0) } : {} }, (res) => {
          const parts = [];
          res.on("data", (part) => parts.push(part));
          res.on("end", () => (res.statusCode < 300 ? resolve(Buffer.concat(parts)) : reject(new Error(`${method} ${name}: HTTP ${res.statusCode}`))));
          res.on("error", reject);
        });
        req.on("error", reject);
        for (const part of body ?? []) req.write(part);
        req.end();
      });
    return {
      put: (name, parts) => request("PUT", name, parts),
      get: (name) => request("GET", name),
      list: async () => JSON.parse((await request("GET", "?list")).toString()),
      parallel: true,
      close: () => agent.destroy(),
    };
  }
  // Synchronous calls: on a local disk they cost less than thread-pool hops (measured: the floor ran 2.5× faster).
  return {
    put: async (name, parts) => {
      const temp = path.join(point, `${name}.tmp`);
      const fd = openSync(temp, "w");
      try {
        writevSync(fd, parts);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path.join(point, name));
    },
    get: async (name) => readFileSync(path.join(point, name)),
    list: async () => readdirSync(point).filter((name) => !name.endsWith(".tmp")),
    parallel: false,
    close: () => undefined,
  };
}

/**
 * Device A of the floor: seals the source chunk by chunk into its store and
 * the point, then stores `done` (the number of blocks) last.
 * @param {{ dir: string, point: string, source: string, bytes: number }} options
 */
export async function runFloorA({ dir, point, source, bytes }) {
  const remote = pointOf(point);
  await awaitHandOff(dir, "floor-b-ready", HANDOFF_TIMEOUT_MS);
  const secret = randomBytes(32);
  const iv = Buffer.alloc(12);
  const startAt = epochMs();
  const input = openSync(source, "r");
  const store = openSync(path.join(dir, "a.store"), "w");
  const inFlight = new Set();
  const buffer = Buffer.allocUnsafe(CHUNK);
  let count = 0;
  try {
    for (let at = 0; at < bytes; at += CHUNK) {
      // One buffer for every chunk: sealing copies it (the sealed parts are fresh).
      const chunk = buffer.subarray(0, readSync(input, buffer, 0, Math.min(CHUNK, bytes - at), at));
      const key = createHmac("sha256", secret).update(createHash("sha256").update(chunk).digest()).digest();
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const sealed = [cipher.update(chunk), cipher.final(), cipher.getAuthTag()];
      // Numbered so B can tell A's blocks by name alone; the hash is what B checks.
      const name = `${String(count++).padStart(6, "0")}-${sha256(...sealed)}`;
      for (const part of sealed) writeSync(store, part);
      const put = remote.put(name, sealed).finally(() => inFlight.delete(put));
      inFlight.add(put);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await remote.put(DONE, [Buffer.from(String(count))]);
  } finally {
    closeSync(input);
    closeSync(store);
    remote.close();
  }
  const endAt = epochMs();
  report("put", { startAt, endAt, ms: endAt - startAt, bytes });
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });
}

/**
 * Device B of the floor: stores every block that lands at the point, checked
 * against its name, until it has as many as `done` says. With `afterPut`,
 * it starts only once `done` is there, as a real B learns of a file's
 * blocks only from the document written when A's put is done.
 * @param {{ dir: string, point: string, bytes: number, afterPut?: boolean }} options
 */
export async function runFloorB({ dir, point, bytes, afterPut = false }) {
  const remote = pointOf(point);
  const store = openSync(path.join(dir, "b.store"), "w");
  const seen = new Set();
  let stored = 0;
  let expected;
  await handOff(dir, "floor-b-ready", {});
  try {
    while (expected === undefined || seen.size < expected) {
      const names = await remote.list();
      if (expected === undefined && names.includes(DONE)) expected = Number((await remote.get(DONE)).toString());
      const news = afterPut && expected === undefined ? [] : names.filter((name) => name !== DONE && !seen.has(name));
      for (const name of news) seen.add(name);
      // Over HTTP, IN_FLIGHT requests at once; on a local directory the gets are synchronous anyway.
      let next = 0;
      const worker = async () => {
        while (next < news.length) {
          const name = news[next++];
          const block = await remote.get(name);
          if (sha256(block) !== name.slice(name.indexOf("-") + 1)) throw new Error(`block ${name} does not match its name`);
          writeSync(store, block);
          stored += block.length;
        }
      };
      await Promise.all(Array.from({ length: remote.parallel ? IN_FLIGHT : 1 }, worker));
      if (news.length === 0) await sleep(IDLE_POLL_MS);
    }
  } finally {
    closeSync(store);
    remote.close();
  }
  const doneAt = epochMs();
  // Sealed bytes: the file's plus 16 per chunk.
  const sealed = bytes + 16 * Math.ceil(bytes / CHUNK);
  report("received", stored === sealed ? { doneAt } : { doneAt, error: `B stored ${stored} bytes, expected ${sealed}` });
  report("verify", stored === sealed ? { bytes: stored } : { error: `B stored ${stored} bytes, expected ${sealed}` });
  report("rss", { bytes: process.resourceUsage().maxRSS * 1024 });
}

/**
 * The floor's sync point for the serve variant: PUT /<name> hashes the body
 * on the way to a temp file and renames it into place if it matches its
 * name; GET /<name> serves it; GET /?list lists the names.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startFloorServer(dir) {
  await mkdir(dir, { recursive: true });
  const names = [];
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  async function handle(req, res) {
    const name = decodeURIComponent(req.url.slice(1));
    if (req.method === "GET" && name === "?list") return void res.end(JSON.stringify(names));
    if (req.method === "GET") return void res.end(await readFile(path.join(dir, name)));
    const hash = createHash("sha256");
    const temp = path.join(dir, `${name}.tmp`);
    const file = await open(temp, "w");
    try {
      for await (const piece of req) {
        hash.update(piece);
        await file.write(piece);
      }
    } finally {
      await file.close();
    }
    if (name !== DONE && hash.digest("hex") !== name.slice(name.indexOf("-") + 1)) {
      res.statusCode = 400;
      return void res.end();
    }
    await rename(temp, path.join(dir, name));
    names.push(name);
    res.end();
  }
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
