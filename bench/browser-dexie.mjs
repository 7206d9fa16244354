// Dexie 4 for the browser bench: one plain table keyed by `_id`, with an
// index declared on `done`, the queried field. IndexedDB cannot key a
// boolean, so that index stays empty for these documents (`where("done")`
// would throw DataError) and the query scans the table with `filter`: what
// a Dexie app storing these documents as they are would do.
import Dexie from "dexie";

export const engine = {
  name: "dexie",
  async open() {
    const db = new Dexie("bench-dexie");
    db.version(1).stores({ docs: "_id, done" });
    await db.open();
    return {
      bulk: (docs) => db.docs.bulkAdd(docs),
      readAll: () => db.docs.toArray(),
      queryDone: async () => (await db.docs.filter((doc) => doc.done === true).toArray()).length,
      get: (id) => db.docs.get(id),
      close: async () => db.close(),
    };
  },
};
