// Fireproof 0.24's sync adapter, set up the way its own tests do
// (core/tests/fireproof/attachable.test.ts, `aJoinable`): every database
// `attach`es an Attachable whose `prepare()` returns car/meta/file URLs at
// one shared location, with `selfReflect` so a meta write notifies the other
// databases of this process at once.
//
// Two key set-ups:
// - default keys: each database has its own key bag (a separate device, as
//   Hearth's replicas are) and its default store keys (`@<name>-data@`);
// - shared key: one key bag for all and the same store key name
//   (`@fireproof:attach@`) on every database and on the sync point, which is
//   what Fireproof's own sync tests do.
// Fireproof has no "in sync" signal, so `settle` returns at once and the
// bench polls the data; A in the late-joiner set-up closes right after its
// last write resolved.
import { Buffer } from "node:buffer";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileUrl } from "./sync-engines.mjs";

const POINT = "bench-sync-point";
const SHARED_STORE_KEY = "@fireproof:attach@";

/**
 * @param {"memory" | "file"} remote
 * @param {string} dir
 * @param {{ sharedKey: boolean }} options
 * @returns {Promise<import("./sync-engines.mjs").SyncEngine>}
 */
export async function loadFireproofSync(remote, dir, { sharedKey }) {
  const file = remote === "file";
  const logged = captureLog();
  if (file) await mkdir(path.join(dir, "remote"), { recursive: true });
  // Fireproof reads the default key bag location from the environment only;
  // keep it inside the bench dir so the run never touches ~/.fireproof.
  process.env.FP_KEYBAG_URL = file ? fileUrl(path.join(dir, "keybag")) : "memory://bench-sync-keybag";
  const { fireproof, PARAM } = await import("@fireproof/core");
  const opened = new Set();

  async function openDb(name) {
    const local = file ? fileUrl(path.join(dir, name)) : `memory://bench-sync-${name}`;
    const base = sharedKey ? withParams(local, { [PARAM.STORE_KEY]: SHARED_STORE_KEY }) : local;
    const keyBag = file ? fileUrl(path.join(dir, `keybag-${name}`)) : `memory://bench-sync-keybag-${name}`;
    const db = fireproof(name, { storeUrls: { base }, ...(sharedKey ? {} : { keyBag: { url: keyBag } }) });
    opened.add(db);
    await db.ready();
    return db;
  }

  /** The sync point as Fireproof's tests build it (their `aJoinable`). */
  function joinable(db) {
    const url = (store) =>
      withParams(file ? fileUrl(path.join(dir, "remote")) : `memory://${store}/${POINT}`, {
        [PARAM.STORE_KEY]: sharedKey ? SHARED_STORE_KEY : db.ledger.opts.storeUrls.data[store].getParam(PARAM.STORE_KEY),
        [PARAM.SELF_REFLECT]: "x",
      });
    return {
      name: POINT,
      configHash: () => `joinable-${POINT}`,
      prepare: async () => ({ car: { url: url("car") }, meta: { url: url("meta") }, file: { url: url("file") } }),
    };
  }

  async function connected(name) {
    const db = await openDb(name);
    await db.attach(joinable(db));
    return db;
  }

  return {
    notes: [
      "Fireproof: attach() to an Attachable at a shared memory:// or file:// location, as its attachable.test.ts does; " +
        "default keys = one key bag per database; shared key = one key bag and storekey @fireproof:attach@ everywhere; no synced(), so the bench polls",
    ],
    hasSynced: false,
    async pair() {
      const a = await connected("a");
      const b = await connected("b");
      return { a: replica(a), b: replica(b) };
    },
    async lateJoiner(write) {
      const a = await connected("a");
      await write(replica(a));
      await a.close();
      opened.delete(a);
      const b = await openDb("b");
      return {
        b: replica(b),
        async join() {
          await b.attach(joinable(b));
        },
      };
    },
    async group(k) {
      const dbs = [];
      for (let j = 0; j < k; j++) dbs.push(await connected(`r${j}`));
      return dbs.map(replica);
    },
    settle: async () => {},
    logged,
    async close() {
      for (const db of opened) await db.close().catch(() => {});
      opened.clear();
    },
  };
}

/** @returns {import("./sync-engines.mjs").Replica} */
function replica(db) {
  return {
    put: (doc) => db.put(doc),
    bulk: (docs) => db.bulk(docs),
    // `true`: the listener gets the changed documents, remote merges included.
    onDocs: (fn) => db.subscribe((docs) => fn(docs.map((d) => d._id)), true),
    count: async () => (await db.allDocs()).rows.length,
    // Fireproof's state is named by its clock heads.
    root: async () => db.ledger.crdt.clock.head.map(String).sort().join(","),
  };
}

function withParams(url, params) {
  const query = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

/**
 * Fireproof reports sync failures (such as a key it cannot find) only as
 * JSON log lines on stdout; keep the distinct messages so a FAILED cell can
 * say what Fireproof said.
 * @returns {() => string[]}
 */
function captureLog() {
  const seen = new Set();
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    // Fireproof's logger writes encoded bytes, not strings.
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (text.startsWith("{") && seen.size < 5) {
      for (const line of text.split("\n")) {
        try {
          const entry = JSON.parse(line);
          if (entry.level === "error" || entry.level === "warn") seen.add(`${entry.module ?? "?"}: ${entry.msg}`);
        } catch {
          // Not a log line of Fireproof's; nothing to keep.
        }
      }
    }
    return write(chunk, ...rest);
  };
  return () => [...seen];
}
