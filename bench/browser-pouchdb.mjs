// PouchDB 9 for the browser bench: `pouchdb-browser`, whose default adapter
// is `idb`. The query is a persisted design-doc view, as in the Node bench
// (bench/engines.mjs): its first query builds the view.
import PouchDB from "pouchdb-browser";

const DESIGN = {
  _id: "_design/bench",
  views: { by_done: { map: "function (doc) { if (doc.done !== undefined) emit(doc.done); }" } },
};

export const engine = {
  name: "pouchdb",
  async open() {
    const db = new PouchDB("bench-pouchdb", { adapter: "idb" });
    await db.info(); // PouchDB opens lazily; make open mean open
    return {
      bulk: async (docs) => {
        for (const result of await db.bulkDocs(docs)) if (result.error) throw new Error(`bulkDocs: ${result.message ?? result.error}`);
      },
      readAll: async () =>
        (await db.allDocs({ include_docs: true })).rows.filter((row) => !row.id.startsWith("_design/")).map((row) => row.doc),
      queryDone: async () => {
        await db.put(DESIGN).catch((err) => {
          if (err.status !== 409) throw err;
        });
        return (await db.query("bench/by_done", { key: true })).rows.length;
      },
      get: (id) => db.get(id),
      close: () => db.close(),
    };
  },
};
