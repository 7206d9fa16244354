// PouchDB's sync adapter. PouchDB replicates database to database, with no
// separate remote, so each set-up uses its own usual shape:
// - pair: `A.replicate.to(B, { live: true })`, B watched with
//   `B.changes({ live: true, since: "now" })` (one hop; Hearth's and
//   Fireproof's writes go through a remote, i.e. two);
// - late joiner: A holds the docs, B is empty, `PouchDB.replicate(A, B)`
//   once, to completion (A plays the remote);
// - group: a hub database, every replica `sync`s with it live, both ways.
// memory: pouchdb-adapter-memory; file: leveldb directories.
import { createHash } from "node:crypto";
import path from "node:path";
import { throwOnBulkError } from "./engines.mjs";

/**
 * @param {"memory" | "file"} remote
 * @param {string} dir
 * @returns {Promise<import("./sync-engines.mjs").SyncEngine>}
 */
export async function loadPouchSync(remote, dir) {
  const { default: PouchDB } = await import("pouchdb");
  if (remote === "memory") {
    const { default: memoryAdapter } = await import("pouchdb-adapter-memory");
    PouchDB.plugin(memoryAdapter);
  }
  const dbs = [];
  const feeds = [];
  const openDb = (name) => {
    const db = remote === "file" ? new PouchDB(path.join(dir, name)) : new PouchDB(`bench-sync-${name}`, { adapter: "memory" });
    dbs.push(db);
    return db;
  };
  /** A live replication or changes feed; an error in it is kept for the footnote. */
  const errors = new Set();
  const live = (feed) => {
    feeds.push(feed);
    feed.on("error", (err) => errors.add(`live feed: ${err?.message ?? err}`));
    return feed;
  };

  /** @returns {import("./sync-engines.mjs").Replica} */
  function replica(db) {
    return {
      put: (doc) => db.put(doc),
      bulk: (docs) => db.bulkDocs(docs).then(throwOnBulkError),
      onDocs(fn) {
        const feed = live(db.changes({ live: true, since: "now" }));
        feed.on("change", (change) => fn([change.id]));
        return () => feed.cancel();
      },
      count: async () => (await db.info()).doc_count,
      // Equal revision trees give equal (id, winning rev) lists.
      async root() {
        const { rows } = await db.allDocs();
        const hash = createHash("sha256");
        for (const row of rows) hash.update(`${row.id}\n${row.value.rev}\n`);
        return hash.digest("hex");
      },
    };
  }

  return {
    notes: ["PouchDB: pair = A.replicate.to(B, live) (one hop); late joiner = PouchDB.replicate(A, B) once; group = live sync with one hub db"],
    hasSynced: false,
    async pair() {
      const a = openDb("a");
      const b = openDb("b");
      live(a.replicate.to(b, { live: true }));
      return { a: replica(a), b: replica(b) };
    },
    async lateJoiner(write) {
      const a = openDb("a");
      await write(replica(a));
      const b = openDb("b");
      await b.info();
      return {
        b: replica(b),
        async join() {
          const result = await PouchDB.replicate(a, b);
          if (!result.ok || result.doc_write_failures > 0) {
            throw new Error(`replicate: ok=${result.ok}, ${result.doc_write_failures} doc write failures`);
          }
        },
      };
    },
    async group(k) {
      const hub = openDb("hub");
      const replicas = [];
      for (let j = 0; j < k; j++) {
        const db = openDb(`r${j}`);
        live(db.sync(hub, { live: true, retry: true }));
        replicas.push(replica(db));
      }
      return replicas;
    },
    settle: async () => {},
    logged: () => [...errors],
    async close() {
      for (const feed of feeds.splice(0)) feed.cancel();
      for (const db of dbs.splice(0)) await db.close().catch(() => {});
    },
  };
}
