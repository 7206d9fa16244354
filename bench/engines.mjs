// One adapter per engine, so the bench steps are written once and every engine
// runs exactly the same workload. Each adapter maps the shared verbs onto the
// engine's own API with that engine's defaults; where an engine offers a
// faster path that a real app would use (PouchDB's persisted design-doc view),
// the adapter uses it and says so in `notes`.
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * @typedef {{ _id: string, title: string, done: boolean, n: number, tags: string[] }} BenchDoc
 * @typedef {{
 *   put(doc: BenchDoc): Promise<unknown>,
 *   bulk(docs: BenchDoc[]): Promise<unknown>,
 *   get(id: string): Promise<BenchDoc>,
 *   allDocs(): Promise<BenchDoc[]>,
 *   queryDone(): Promise<number>,
 *   close(): Promise<void>,
 * }} Ledger
 * @typedef {{
 *   notes: string[],
 *   open(name: string): Promise<Ledger>,
 *   dataDir(name: string): string | undefined,
 * }} Engine
 */

/** Engines the bench knows, in table column order. */
export const ENGINE_NAMES = ["hearth", "fireproof", "pouchdb"];

/**
 * Loads the adapter for `name`, pointed at `dir` for file storage or at an
 * in-process memory store, so each child process benchmarks one combination.
 * @param {string} name engine name from ENGINE_NAMES
 * @param {"file" | "memory"} storage
 * @param {string} dir absolute directory the child may write into
 * @returns {Promise<Engine>}
 */
export async function loadEngine(name, storage, dir) {
  if (name === "hearth") return loadHearth(storage, dir);
  if (name === "fireproof") return loadFireproof(storage, dir);
  if (name === "pouchdb") return loadPouch(storage, dir);
  throw new TypeError(`unknown engine ${name}; expected one of ${ENGINE_NAMES.join(", ")}`);
}

function fileUrl(p) {
  return pathToFileURL(p).href;
}

async function loadHearth(storage, dir) {
  const { open } = await import("@hearth/core");
  // The keyring must be a file in the bench dir for the fresh-process reopen:
  // a memory keyring would lose the data key with the writing process.
  const keyring = storage === "file" ? fileUrl(path.join(dir, "keyring")) : "memory://bench";
  return {
    notes: [],
    dataDir: (name) => (storage === "file" ? path.join(dir, name) : undefined),
    async open(name) {
      const store = storage === "file" ? fileUrl(path.join(dir, name)) : `memory://${name}`;
      const db = await open(name, { store, keyring });
      return fireproofShaped(db);
    },
  };
}

/**
 * The bench's view of a ledger with Fireproof's API (Hearth has the same
 * shape on purpose, so both engines are driven by one adapter).
 */
function fireproofShaped(db) {
  return {
    put: (doc) => db.put(doc),
    bulk: (docs) => db.bulk(docs),
    get: (id) => db.get(id),
    allDocs: async () => (await db.allDocs()).rows.map((row) => row.value),
    queryDone: async () => (await db.query("done", { key: true, includeDocs: false })).rows.length,
    close: () => db.close(),
  };
}

async function loadFireproof(storage, dir) {
  // Fireproof reads its key bag location from the environment only; point it
  // into the bench dir so the run never touches ~/.fireproof.
  process.env.FP_KEYBAG_URL = storage === "file" ? fileUrl(path.join(dir, "keybag")) : "memory://bench-keybag";
  const { fireproof } = await import("@fireproof/core");
  return {
    notes: ["Fireproof: default options; storeUrls.base per ledger"],
    dataDir: (name) => (storage === "file" ? path.join(dir, name) : undefined),
    async open(name) {
      const base = storage === "file" ? fileUrl(path.join(dir, name)) : `memory://${name}`;
      const db = fireproof(name, { storeUrls: { base } });
      await db.ready();
      return fireproofShaped(db);
    },
  };
}

const POUCH_VIEW = {
  _id: "_design/bench",
  views: { by_done: { map: "function (doc) { if (doc.done !== undefined) emit(doc.done); }" } },
};

async function loadPouch(storage, dir) {
  const { default: PouchDB } = await import("pouchdb");
  if (storage === "memory") {
    const { default: memoryAdapter } = await import("pouchdb-adapter-memory");
    PouchDB.plugin(memoryAdapter);
  }
  return {
    notes: ["PouchDB: leveldb (file) / memdown (memory); query = persisted design-doc view"],
    dataDir: (name) => (storage === "file" ? path.join(dir, name) : undefined),
    async open(name) {
      const db = storage === "file" ? new PouchDB(path.join(dir, name)) : new PouchDB(name, { adapter: "memory" });
      await db.info();
      let viewSaved = false;
      return {
        put: (doc) => db.put(doc),
        bulk: (docs) => db.bulkDocs(docs).then(throwOnBulkError),
        get: (id) => db.get(id),
        allDocs: async () => {
          const result = await db.allDocs({ include_docs: true });
          // The design doc is ours, not the app's; leave it out of the count.
          return result.rows.filter((row) => !row.id.startsWith("_design/")).map((row) => row.doc);
        },
        async queryDone() {
          if (!viewSaved) {
            await db.put(POUCH_VIEW).catch((err) => {
              if (err.status !== 409) throw err;
            });
            viewSaved = true;
          }
          return (await db.query("bench/by_done", { key: true })).rows.length;
        },
        close: () => db.close(),
      };
    },
  };
}

/** bulkDocs reports per-doc failures in its result instead of rejecting. */
export function throwOnBulkError(results) {
  const failed = results.find((r) => r.error);
  if (failed) throw new Error(`bulkDocs: ${failed.id}: ${failed.name}: ${failed.message}`);
  return results;
}
