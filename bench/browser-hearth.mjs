// Hearth for the browser bench: a ledger opened through the public API
// (`open` from @hearth/core's browser build) on an `indexeddb://` store,
// with the default device keyring (`indexeddb://hearth-keyring`), as an
// app would.
import { open } from "@hearth/core";

const LEDGER = "bench";

export const engine = {
  name: "hearth",
  async open() {
    const db = await open(LEDGER, { store: "indexeddb://bench-hearth" });
    return {
      bulk: (docs) => db.bulk(docs),
      readAll: async () => (await db.allDocs()).rows.map((row) => row.value),
      queryDone: async () => (await db.query("done", { key: true })).rows.length,
      get: (id) => db.get(id),
      close: () => db.close(),
    };
  },
};
