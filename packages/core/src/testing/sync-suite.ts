/**
 * The sync conformance suite: the seed report's four scenarios (each with
 * separate devices and with one shared device), several replicas writing
 * concurrently, live subscriptions and the missing-key failure — over any
 * remote and any local store. It runs under vitest (memory and file sync
 * points), in a real browser (IndexedDB ledgers), and later over the sync
 * server and S3, so every sync point proves the same behaviour.
 *
 * Waits are `synced()` or {@link waitFor} with deadlines; nothing sleeps.
 *
 * @module
 */
import type { Ledger } from "../ledger/ledger.js";
import type { Remote } from "../remote/types.js";
import type { Attachment } from "../sync/attachment.js";
import { check, checkEqual, checkRejects, type TestCase } from "./harness.js";
import { waitFor } from "./remote-suite.js";

/** Replicas and a sync point for one case; `close` releases everything the session opened. */
export interface SyncSession {
  /**
   * Opens replica `name` on device `device` (replicas given the same device
   * share one keyring; different devices have separate keyrings).
   */
  open(name: string, device: string): Promise<Ledger>;
  /** What a replica passes to `attach` for this case's sync point (a fresh client per call). */
  target(): string | Remote | Promise<string | Remote>;
  close(): Promise<void>;
}

/** Creates a session per case. */
export interface SyncFactory {
  readonly label: string;
  session(): Promise<SyncSession>;
}

const SYNCED = { timeoutMs: 15_000 };

/** The conformance cases for `factory`. */
export function syncConformance(factory: SyncFactory): TestCase[] {
  const cases: TestCase[] = [];
  const add = (name: string, run: (s: SyncSession) => Promise<void>): void => {
    cases.push({
      name: `${factory.label}: ${name}`,
      run: async () => {
        const session = await factory.session();
        try {
          await run(session);
        } finally {
          await session.close();
        }
      },
    });
  };

  for (const devices of ["separate devices", "one device"] as const) {
    const deviceOf = (name: string): string => (devices === "one device" ? "shared" : name);
    /** Attaches `db`; on separate devices a `member` invites it first, and it attaches with the invitation. */
    const join = async (s: SyncSession, db: Ledger, member?: Ledger): Promise<Attachment> => {
      if (member && devices === "separate devices") {
        const { invitations } = await member.invite((await db.device()).publicKey);
        return db.attach(await s.target(), { invitation: invitations[0]! });
      }
      return db.attach(await s.target());
    };

    add(`${devices}: A attaches and writes, then B attaches and receives`, async (s) => {
      const a = await s.open("a", deviceOf("a"));
      const sa = await join(s, a);
      await a.put({ _id: "from-a", v: 1 });
      await sa.synced(SYNCED);
      const b = await s.open("b", deviceOf("b"));
      await (await join(s, b, a)).synced(SYNCED);
      checkEqual(await b.get("from-a"), { _id: "from-a", v: 1 });
    });

    add(`${devices}: B attaches and writes, then A attaches and receives`, async (s) => {
      const b = await s.open("b", deviceOf("b"));
      const sb = await join(s, b);
      await b.put({ _id: "from-b", v: 2 });
      await sb.synced(SYNCED);
      const a = await s.open("a", deviceOf("a"));
      await (await join(s, a, b)).synced(SYNCED);
      checkEqual(await a.get("from-b"), { _id: "from-b", v: 2 });
    });

    add(`${devices}: both attached, A → B then B → A`, async (s) => {
      const a = await s.open("a", deviceOf("a"));
      const sa = await join(s, a);
      const b = await s.open("b", deviceOf("b"));
      const sb = await join(s, b, a);
      await a.put({ _id: "one", from: "a" });
      await waitFor(() => has(b, "one"), SYNCED.timeoutMs, "B to receive A's write");
      await b.put({ _id: "two", from: "b" });
      await waitFor(() => has(a, "two"), SYNCED.timeoutMs, "A to receive B's write");
      await Promise.all([sa.synced(SYNCED), sb.synced(SYNCED)]);
      checkEqual(await a.root(), await b.root(), "roots differ after syncing both ways");
    });

    add(`${devices}: A writes and closes, B attaches later and receives everything`, async (s) => {
      const a = await s.open("a", deviceOf("a"));
      await join(s, a);
      await a.bulk(Array.from({ length: 30 }, (_, i) => ({ _id: `d${String(i).padStart(2, "0")}`, i })));
      await a.put({ _id: "last" });
      let invitation: string | undefined;
      if (devices === "separate devices") {
        // B's device must be invited while A is still attached.
        const probe = await s.open("b-probe", deviceOf("b"));
        invitation = (await a.invite((await probe.device()).publicKey)).invitations[0];
        await probe.close();
      }
      await a.close(); // no synced(): close itself pushes the outbox
      const b = await s.open("b", deviceOf("b"));
      await (await b.attach(await s.target(), invitation ? { invitation } : {})).synced(SYNCED);
      checkEqual((await b.allDocs()).rows.length, 31, "B did not receive every document A wrote before closing");
    });
  }

  add("three replicas writing concurrently converge with identical conflicts", async (s) => {
    const dbs: Ledger[] = [];
    const attachments: Attachment[] = [];
    for (const name of ["a", "b", "c"]) {
      const db = await s.open(name, name);
      const invitation = dbs[0] && (await dbs[0].invite((await db.device()).publicKey)).invitations[0];
      attachments.push(await db.attach(await s.target(), invitation ? { invitation } : {}));
      dbs.push(db);
    }
    await Promise.all(dbs.map((db, i) => Promise.all([
      ...Array.from({ length: 10 }, (_, k) => db.put({ _id: `r${i}-${k}` })),
      db.put({ _id: "shared", by: i }),
    ])));
    await waitFor(async () => {
      await Promise.all(attachments.map((a) => a.synced(SYNCED)));
      return new Set(await Promise.all(dbs.map((db) => db.root()))).size === 1;
    }, 2 * SYNCED.timeoutMs, "three replicas to reach one root");
    const conflicts = await Promise.all(dbs.map((db) => db.get("shared", { conflicts: true })));
    for (const c of conflicts) checkEqual(c, conflicts[0], "conflicts differ between replicas");
    check(conflicts[0]!._conflicts?.length === 2, "the two concurrent losers are kept as conflicts");
    checkEqual((await dbs[2]!.allDocs()).rows.length, 31);
  });

  add("subscribe fires for remote changes on every replica", async (s) => {
    const a = await s.open("a", "a");
    await a.attach(await s.target());
    const b = await s.open("b", "b");
    const { invitations } = await a.invite((await b.device()).publicKey);
    await b.attach(await s.target(), { invitation: invitations[0]! });
    const seen: string[] = [];
    b.subscribe((docs) => seen.push(...docs.map((d) => d._id)));
    await a.put({ _id: "live" });
    await waitFor(() => seen.includes("live"), SYNCED.timeoutMs, "B's subscriber to see A's write");
  });

  add("a share code (a reader's) lets another device join once; a passphrase lets others join until replaced", async (s) => {
    const a = await s.open("a", "a");
    const sa = await a.attach(await s.target(), { passphrase: "correct horse battery staple" });
    await a.put({ _id: "shared" });
    await sa.synced(SYNCED);
    const code = await sa.createShareCode({ role: "reader" });
    const b = await s.open("b", "b");
    const sb = await b.attach(await s.target(), { shareCode: code });
    await sb.synced(SYNCED);
    checkEqual(await b.get("shared"), { _id: "shared" });
    checkEqual(sb.status().role, "reader");
    const c = await s.open("c", "c");
    await checkRejects(async () => c.attach(await s.target(), { shareCode: code }), "KEY_REQUIRED");
    const sc = await c.attach(await s.target(), { passphrase: "correct horse battery staple" });
    await sc.synced(SYNCED);
    checkEqual(await c.get("shared"), { _id: "shared" });
    checkEqual((await sa.members()).map((m) => m.role).sort(), ["admin", "reader", "writer"]);
  });

  add("another device without an invite gets KEY_REQUIRED at once", async (s) => {
    const a = await s.open("a", "a");
    await a.attach(await s.target());
    const b = await s.open("b", "b");
    const started = Date.now();
    await checkRejects(async () => b.attach(await s.target()), "KEY_REQUIRED");
    check(Date.now() - started < 2_000, "KEY_REQUIRED took longer than 2 s");
  });

  return cases;
}

async function has(db: Ledger, id: string): Promise<boolean> {
  return db.get(id).then(() => true, () => false);
}
