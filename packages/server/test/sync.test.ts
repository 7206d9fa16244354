// The sync conformance suite with every replica attached through
// `http://…/<ledger>?token=…` to a real server: the seed's scenarios over
// the sync server, on separate and shared keyrings.
import { afterAll, beforeAll, describe, it } from "vitest";
import { open, type Ledger } from "@hearth/core";
import { syncConformance } from "@hearth/core/testing";
import { cleanup, startServer, uniqueLedger, type TestServer } from "./helpers/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(cleanup);

let sessions = 0;

describe("sync conformance over the sync server", () => {
  const cases = syncConformance({
    label: "memory replicas, http sync point",
    async session() {
      const scope = `s${process.pid}-${++sessions}`;
      const ledger = uniqueLedger("sync");
      const target = `${s.url}/${ledger}?token=${encodeURIComponent(await s.token(ledger))}`;
      const ledgers: Ledger[] = [];
      return {
        async open(name, device) {
          const db = await open(name, { store: `memory://${scope}-${name}`, keyring: `memory://${scope}-device-${device}` });
          ledgers.push(db);
          return db;
        },
        target: () => target,
        async close() {
          await Promise.all(ledgers.map((db) => db.close().catch(() => undefined)));
        },
      };
    },
  });
  for (const c of cases) it(c.name, c.run, 60_000);
});
