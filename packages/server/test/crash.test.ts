// SIGKILL the sync server (a real `hearth serve` process) while replicas
// sync through it, restart it on the same port and data directory, and
// check that the replicas resume by themselves and lose nothing: every
// write acknowledged on either side, before, during and after the outage,
// ends up on both, with one root.
import { afterEach, describe, expect, it } from "vitest";
import { open, type Ledger } from "@hearth/core";
import { waitFor } from "@hearth/core/testing";
import { openFsBackend } from "../src/index.js";
import { bundleCli, startServeProcess, type CliProcess } from "./helpers/cli.js";
import { withDeadline } from "./helpers/deadline.js";
import { cleanup, tempDir } from "./helpers/server.js";

const RESUME_MS = 30_000;
const ledgers: Ledger[] = [];
const processes: CliProcess[] = [];

afterEach(async () => {
  await Promise.all(ledgers.splice(0).map((db) => db.close().catch(() => undefined)));
  for (const proc of processes.splice(0)) proc.child.kill("SIGKILL");
  await cleanup();
});

async function replica(name: string): Promise<Ledger> {
  const scope = `crash-${process.pid}-${name}-${Math.random().toString(36).slice(2)}`;
  const db = await open(name, { store: `memory://${scope}`, keyring: `memory://${scope}-device` });
  ledgers.push(db);
  return db;
}

async function ids(db: Ledger): Promise<Set<string>> {
  return new Set((await db.allDocs()).rows.map((r) => r.key));
}

describe("the server dies mid-sync", () => {
  it("SIGKILL, restart on the same port and directory: clients resume by themselves and lose nothing", async () => {
    const cli = await bundleCli(tempDir("hearth-cli-"));
    const data = tempDir();
    const backend = await openFsBackend(data);
    const { token } = await backend.tokens.create({ ledger: "crash", rights: "read-write" });
    await backend.close();

    const first = await startServeProcess(cli, ["--data", data, "--port", "0"]);
    processes.push(first.proc);
    const port = new URL(first.url).port;
    const target = `${first.url}/crash?token=${token}`;

    const a = await replica("a");
    const b = await replica("b");
    await a.attach(target);
    const { invitations } = await a.invite((await b.device()).publicKey);
    await b.attach(target, { invitation: invitations[0]! });

    // Both replicas write in phases; each write is acknowledged locally at once.
    const written: string[] = [];
    const phase = async (label: string, count: number): Promise<void> => {
      await Promise.all(
        [a, b].map(async (db, who) => {
          for (let i = 0; i < count; i++) {
            const id = `${label}-${who === 0 ? "a" : "b"}-${String(i).padStart(3, "0")}`;
            await db.put({ _id: id, i });
            written.push(id);
            await new Promise((resolve) => setTimeout(resolve, 5)); // pacing of the workload, not a wait for sync
          }
        }),
      );
    };

    // Sync is under way while both write; the server dies right after, with pushes and pulls in flight.
    await phase("before", 40);
    first.proc.child.kill("SIGKILL");
    expect(await withDeadline(first.proc.exited, 10_000, "the killed server")).toBe("SIGKILL");

    await phase("during", 10); // the server is down

    const second = await startServeProcess(cli, ["--data", data, "--port", port]);
    processes.push(second.proc);
    expect(second.url).toBe(first.url);
    await phase("after", 10);

    const expected = new Set(written);
    await waitFor(
      async () => {
        const [ia, ib] = await Promise.all([ids(a), ids(b)]);
        return [...expected].every((id) => ia.has(id) && ib.has(id));
      },
      RESUME_MS,
      "both replicas to hold every acknowledged write",
    );
    await waitFor(async () => (await a.root()) === (await b.root()), RESUME_MS, "one root");
    expect((await ids(a)).size).toBe(expected.size);
  }, 120_000);
});
