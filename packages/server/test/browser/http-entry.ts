/**
 * Runs in Chromium: the remote conformance suite on the HTTP remote, and
 * the sync conformance suite with ledgers attached by `http://…?token=…`,
 * using the browser's own fetch and WebSocket, from a page on another
 * origin than the server (so CORS is exercised too). Results go back
 * through `window.__hearthReport`.
 *
 * @module
 */
import { open, openHttpRemote, type Ledger } from "@hearth/core";
import { remoteConformance, syncConformance, type TestCase } from "@hearth/core/testing";

interface Config {
  readonly server: string;
  readonly ledgers: { readonly ledger: string; readonly token: string }[];
}

interface Report {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

const w = window as unknown as { __hearthConfig: Config; __hearthReport(reports: Report[]): Promise<void> };
const config = w.__hearthConfig;
let next = 0;
const fresh = (): { ledger: string; token: string } => {
  const l = config.ledgers[next++];
  if (!l) throw new Error("the test minted too few ledgers for the browser cases");
  return l;
};

const cases: TestCase[] = [
  ...remoteConformance({
    label: "browser http",
    async open() {
      const { ledger, token } = fresh();
      const openOne = () => openHttpRemote(`${config.server}/${ledger}`, { token });
      return { remote: await openOne(), openAnother: openOne };
    },
  }),
  ...syncConformance({
    label: "browser memory replicas, http sync point",
    async session() {
      const { ledger, token } = fresh();
      const scope = `${ledger}-${Math.random().toString(36).slice(2)}`;
      const dbs: Ledger[] = [];
      return {
        async open(name, device) {
          const db = await open(name, { store: `memory://${scope}-${name}`, keyring: `memory://${scope}-device-${device}` });
          dbs.push(db);
          return db;
        },
        target: () => `${config.server}/${ledger}?token=${encodeURIComponent(token)}`,
        async close() {
          await Promise.all(dbs.map((db) => db.close().catch(() => undefined)));
        },
      };
    },
  }),
];

const reports: Report[] = [];
for (const c of cases) {
  try {
    await c.run();
    reports.push({ name: c.name, ok: true });
  } catch (err) {
    reports.push({ name: c.name, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}
await w.__hearthReport(reports);
