/**
 * The sync point's trust rules across processes, one suite for every kind
 * of sync point: core runs it over a `file://` directory, the server
 * package through `hearth serve`. Every replica is its own Node process
 * with its own store and keyring directory (its own device), driven through
 * `fixtures/sync-replica.ts`.
 *
 * The test itself plays the sync point's operator: through {@link
 * ProcessTrustSetting.raw} it lists, reads and deletes the point's names
 * as anyone holding the bytes can (the directory's files; the server's
 * HTTP API with a read-write token). It reads the signed membership entries
 * (in the clear) to see which key each epoch has and whom it was wrapped
 * for, and the envelopes of bundles to see which key sealed them; it opens
 * a replica's keyring directory to see which keys that device holds.
 *
 * Scenarios assert outcomes and error codes, never timing: every wait is for
 * a condition, with a deadline.
 *
 * @module
 */
import { afterEach, describe, expect, it } from "vitest";
import { readEnvelopeFingerprint } from "../../src/crypto/envelope.js";
import { webCryptoSigner } from "../../src/crypto/signing.js";
import { openFileKeyring } from "../../src/keyring/file.js";
import type { Remote } from "../../src/remote/types.js";
import { BUNDLE_PREFIX, ENTRY_PREFIX } from "../../src/sync/layout.js";
import { decodeEntry, type Entry, type KeyGrant, type Role } from "../../src/trust/entry.js";
import { eventually } from "./eventually.js";
import { expectReplicaCode, type ReplicaProcess } from "./replica-process.js";

/** What a kind of sync point gives the suite. */
export interface ProcessTrustSetting {
  /** A new, empty sync point: the directory for this test's replicas, and the URL they attach to. */
  point(): Promise<{ dir: string; url: string }>;
  /** Starts replica `name` under `dir`; the caller stops it after the test. */
  start(dir: string, name: string): Promise<ReplicaProcess>;
  /** The sync point at `url` as its operator reaches it: names and bytes, no keys. */
  raw(url: string): Promise<Remote>;
}

type Three<T> = [T, T, T];

/** Deadline of each wait for another process to see something. */
const WAIT = { timeoutMs: 15_000 };

/** A key grant at the point, with the kind and author of the entry that carries it. */
interface GrantAt {
  readonly kind: "found" | "remove" | "key";
  readonly author: string;
  readonly epoch: number;
  readonly key: string;
  /** Devices it was wrapped for, sorted. */
  readonly to: string[];
  /** The device a removal removed. */
  readonly removed?: string;
}

/** The sync point, read and changed by the test as its operator. */
class Operator {
  constructor(readonly remote: Remote) {}

  names(prefix: string): Promise<string[]> {
    return this.remote.list(prefix);
  }

  /** Every membership entry the point serves, decoded (signatures checked). */
  async entries(): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (const name of await this.names(ENTRY_PREFIX)) {
      const bytes = await this.remote.get(name);
      if (bytes) entries.push(await decodeEntry(bytes, webCryptoSigner));
    }
    return entries;
  }

  /** Every key grant in the served log, oldest epoch first. */
  async grants(): Promise<GrantAt[]> {
    const grants: GrantAt[] = [];
    for (const entry of await this.entries()) {
      const { op } = entry;
      if (op.kind !== "found" && op.kind !== "remove" && op.kind !== "key") continue;
      grants.push({ kind: op.kind, author: entry.author.fingerprint, ...grantFields(op.grant), ...(op.kind === "remove" && { removed: op.member }) });
    }
    return grants.sort((x, y) => x.epoch - y.epoch);
  }

  /** The key fingerprint each of these bundles is sealed with. */
  async sealedWith(names: readonly string[]): Promise<string[]> {
    const keys: string[] = [];
    for (const name of names) keys.push(readEnvelopeFingerprint((await this.remote.get(name))!));
    return keys;
  }

  /** Bundles at the point now that are not in `before`. */
  async newBundles(before: ReadonlySet<string>): Promise<string[]> {
    return (await this.names(BUNDLE_PREFIX)).filter((n) => !before.has(n));
  }

  /** Deletes every membership entry not in `kept`: the log as it was then. Returns the names deleted. */
  async rollBackTo(kept: ReadonlySet<string>): Promise<string[]> {
    const gone = (await this.names(ENTRY_PREFIX)).filter((n) => !kept.has(n));
    for (const name of gone) await this.remote.delete(name);
    return gone;
  }
}

function grantFields(grant: KeyGrant): { epoch: number; key: string; to: string[] } {
  return { epoch: grant.epoch, key: grant.key, to: grant.wraps.map((w) => w.to as string).sort() };
}

/** The data keys the replica's device holds: its keyring directory, opened by the test. */
async function heldKeys(replica: ReplicaProcess): Promise<string[]> {
  const keyring = await openFileKeyring(replica.keyring);
  try {
    return await keyring.listKeys();
  } finally {
    await keyring.close();
  }
}

/** True if any of the replicas' engines reported withholding (a lost entry or bundle found and put back). */
async function reportedWithheld(replicas: readonly ReplicaProcess[]): Promise<boolean> {
  const traces = await Promise.all(replicas.map((r) => r.trace()));
  return traces.some((trace) => trace.some((e) => e.event === "withheld"));
}

/** Waits until `replica` holds `doc._id` with the fields of `doc`. */
async function receives(replica: ReplicaProcess, doc: { _id: string } & Record<string, unknown>): Promise<void> {
  await eventually(async () => expect(await replica.get(doc._id)).toMatchObject(doc), { ...WAIT, what: `${replica.name} to receive ${doc._id}` });
}

/**
 * Waits until `replica`'s attachment is in state `error` with `code` and
 * `role` (every cycle it runs ends there; during one it shows `syncing`).
 */
async function endsWith(replica: ReplicaProcess, expected: { role: string; code: string }): Promise<void> {
  await eventually(async () => expect(await replica.status()).toMatchObject({ state: "error", role: expected.role, error: { code: expected.code } }), {
    ...WAIT,
    what: `${replica.name} to end in error ${expected.code}`,
  });
}

const sorted = (values: readonly string[]): string[] => [...values].sort();

/** Defines the suite's tests under `title`. */
export function describeTrustAcrossProcesses(title: string, setting: ProcessTrustSetting): void {
  const opened: Remote[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.close()));
  });

  const operator = async (url: string): Promise<Operator> => {
    const remote = await setting.raw(url);
    opened.push(remote);
    return new Operator(remote);
  };

  /**
   * Three replicas named `names`, each its own device: the first founds
   * the point, and invites the other two with `roles`.
   */
  const trio = async (names: Three<string>, roles: readonly [Role, Role]): Promise<{ dir: string; url: string; replicas: Three<ReplicaProcess>; fps: Three<string> }> => {
    const { dir, url } = await setting.point();
    const replicas = (await Promise.all(names.map((name) => setting.start(dir, name)))) as Three<ReplicaProcess>;
    const devices = await Promise.all(replicas.map((replica) => replica.device()));
    await replicas[0].attach(url);
    for (const i of [1, 2] as const) {
      await replicas[i].join(url, { invitation: await replicas[0].invite(devices[i]!.publicKey, roles[i - 1]) });
      expect((await replicas[i].status()).role).toBe(roles[i - 1]);
    }
    return { dir, url, replicas, fps: devices.map((d) => d.fingerprint) as Three<string> };
  };

  describe(title, () => {
    it("roles: a writer's writes reach everyone; a reader's stay with it (FORBIDDEN) while it still reads everything", async () => {
      const { replicas: [a, b, c], fps } = await trio(["a", "b", "c"], ["writer", "reader"]);
      await a.put({ _id: "from-a", v: 1 });
      await b.put({ _id: "from-b", v: 2 });
      await Promise.all([receives(a, { _id: "from-b", v: 2 }), receives(c, { _id: "from-b", v: 2 }), receives(c, { _id: "from-a", v: 1 })]);

      // The reader's write is accepted locally, and refused for the point at once.
      await c.put({ _id: "from-c", v: 3 });
      expect(await c.get("from-c")).toMatchObject({ _id: "from-c", v: 3 });
      await expectReplicaCode(c.synced(), "FORBIDDEN");
      await endsWith(c, { role: "reader", code: "FORBIDDEN" });

      // Writes made after it still reach the reader; its own never reaches anyone, not even as a refused bundle.
      await a.put({ _id: "later-a" });
      await b.put({ _id: "later-b" });
      await Promise.all([receives(c, { _id: "later-a" }), receives(c, { _id: "later-b" })]);
      await Promise.all([a.synced(), b.synced()]);
      await expectReplicaCode(a.get("from-c"), "NOT_FOUND");
      await expectReplicaCode(b.get("from-c"), "NOT_FOUND");
      for (const replica of [a, b]) expect((await replica.status()).rejected).toBe(0);
      expect((await c.dump()).rows.map((row) => row.key)).toEqual(["from-a", "from-b", "from-c", "later-a", "later-b"]);

      // Only admins change membership.
      await expectReplicaCode(c.createShareCode(), "FORBIDDEN");
      await expectReplicaCode(b.createShareCode(), "FORBIDDEN");
      await expectReplicaCode(b.invite((await c.device()).publicKey, "admin"), "FORBIDDEN");
      const roles = new Map([[fps[0], "admin"], [fps[1], "writer"], [fps[2], "reader"]]);
      expect((await a.members()).map((m) => [m.fingerprint, m.role])).toEqual(sorted(fps).map((f) => [f, roles.get(f)]));
    });

    it("removal: the removed device's later writes reach nobody, it ends REMOVED, and it is no longer a member", async () => {
      const { url, replicas: [a, b, c], fps: [fa, , fc] } = await trio(["a", "b", "c"], ["writer", "writer"]);
      await b.put({ _id: "b-before" });
      await Promise.all([receives(a, { _id: "b-before" }), receives(c, { _id: "b-before" })]);

      await a.remove((await b.device()).publicKey);
      expect((await a.members()).map((m) => m.fingerprint)).toEqual(sorted([fa, fc]));
      await eventually(async () => expect((await b.status()).role).toBe("removed"), { ...WAIT, what: "B to learn of its removal" });
      await b.put({ _id: "b-after" });
      await expectReplicaCode(b.synced(), "REMOVED");
      await endsWith(b, { role: "removed", code: "REMOVED" });
      // What it wrote stays on it, acknowledged: the removal takes nothing from its own ledger.
      expect(await b.get("b-after")).toMatchObject({ _id: "b-after" });
      expect(await b.get("b-before")).toMatchObject({ _id: "b-before" });

      // The others go on (C learns of the removal too), and nothing of B's arrives, not even refused.
      await c.put({ _id: "c-after" });
      await a.put({ _id: "a-after" });
      await Promise.all([receives(a, { _id: "c-after" }), receives(c, { _id: "a-after" })]);
      await Promise.all([a.synced(), c.synced()]);
      for (const replica of [a, c]) {
        await expectReplicaCode(replica.get("b-after"), "NOT_FOUND");
        expect(await replica.get("b-before")).toMatchObject({ _id: "b-before" });
        expect((await replica.status()).rejected).toBe(0);
      }
      await eventually(async () => expect((await c.members()).map((m) => m.fingerprint)).toEqual(sorted([fa, fc])), WAIT);

      // B cannot come back: attaching again is refused, and it cannot be invited again.
      await b.detach();
      await expectReplicaCode(b.attach(url), "REMOVED");
      await expectReplicaCode(a.invite((await b.device()).publicKey), "INVALID_ARGUMENT");
    });

    it("rotation after removal: new writes use a key the removed device never gets, also after a later rotation by another admin", async () => {
      const { url, replicas: [a, b, c], fps: [fa, fb, fc] } = await trio(["a", "b", "c"], ["writer", "admin"]);
      const point = await operator(url);
      await a.put({ _id: "before" });
      await Promise.all([receives(b, { _id: "before" }), receives(c, { _id: "before" })]);
      const [founding] = await point.grants();
      expect(founding).toMatchObject({ kind: "found", epoch: 1 });
      expect(await heldKeys(b)).toContain(founding!.key);

      // The removal carries the next epoch's key, wrapped for the remaining members only.
      await a.remove((await b.device()).publicKey);
      const removal = (await point.grants()).find((g) => g.kind === "remove");
      expect(removal).toMatchObject({ removed: fb, epoch: 2, to: sorted([fa, fc]) });
      let bundles = new Set(await point.names(BUNDLE_PREFIX));
      await a.put({ _id: "after-removal" });
      await a.synced();
      const sealedAfterRemoval = await point.sealedWith(await point.newBundles(bundles));
      expect(sealedAfterRemoval.length).toBeGreaterThan(0);
      expect(new Set(sealedAfterRemoval)).toEqual(new Set([removal!.key]));
      await receives(c, { _id: "after-removal" });

      // B still reads the point, and holds the old key, but not the new one: it never gets the write.
      await eventually(async () => expect((await b.status()).role).toBe("removed"), { ...WAIT, what: "B to learn of its removal" });
      expect(await heldKeys(b)).not.toContain(removal!.key);
      await expectReplicaCode(b.get("after-removal"), "NOT_FOUND");

      // Another admin rotates later (C knows of the removal: it read what was sealed with epoch 2's key).
      await c.rotateKey();
      const rotation = (await point.grants()).find((g) => g.kind === "key" && g.author === fc);
      expect(rotation).toMatchObject({ epoch: 3, to: sorted([fa, fc]) });
      // A reads what C sealed after rotating, so it holds the new key and seals with it; B holds neither.
      await c.put({ _id: "from-c-rotated" });
      await receives(a, { _id: "from-c-rotated" });
      bundles = new Set(await point.names(BUNDLE_PREFIX));
      await a.put({ _id: "after-rotation" });
      await a.synced();
      expect(new Set(await point.sealedWith(await point.newBundles(bundles)))).toEqual(new Set([rotation!.key]));
      await receives(c, { _id: "after-rotation" });
      // B finds the new announcements at the point and cannot open them.
      await eventually(async () => {
        const refused = (await b.trace()).filter((e) => e.event === "reject" && e.code === "KEY_REQUIRED");
        expect(refused.some((e) => e.message?.includes(rotation!.key))).toBe(true);
      }, { ...WAIT, what: "B to find data sealed with the rotated key" });
      const held = await heldKeys(b);
      expect(held).toContain(founding!.key);
      expect(held).not.toContain(removal!.key);
      expect(held).not.toContain(rotation!.key);
      await expectReplicaCode(b.get("after-rotation"), "NOT_FOUND");
      expect((await b.dump()).rows.map((row) => row.key)).toEqual(["before"]);
      await expectReplicaCode(b.get("from-c-rotated"), "NOT_FOUND");
    });

    it("share code replay: the point restores its records from before the redeem; members put the redeem back, and a second device is refused (KEY_REQUIRED) with no key", async () => {
      const { dir, url } = await setting.point();
      const [a, b, c] = (await Promise.all(["a", "b", "c"].map((name) => setting.start(dir, name)))) as Three<ReplicaProcess>;
      const point = await operator(url);
      await a.attach(url);
      await a.put({ _id: "before" });
      const code = await a.createShareCode("writer");
      const beforeRedeem = new Set(await point.names(ENTRY_PREFIX));

      await b.join(url, { shareCode: code });
      expect((await b.status()).role).toBe("writer");
      await receives(b, { _id: "before" });
      const redeemed = (await point.names(ENTRY_PREFIX)).filter((n) => !beforeRedeem.has(n));
      expect(redeemed.length).toBeGreaterThan(0);

      // The operator puts the log back as it was before the redeem: the code looks unused again.
      const deleted = await point.rollBackTo(beforeRedeem);
      expect(deleted).toEqual(expect.arrayContaining(redeemed));
      // The members hold what they saw, and put it back (A when it next reads the log; B's watch, maybe, sooner).
      await eventually(async () => {
        await a.members();
        expect(await point.names(ENTRY_PREFIX)).toEqual(expect.arrayContaining(deleted));
      }, { ...WAIT, what: "the members to put the redeem back" });
      expect(await reportedWithheld([a, b])).toBe(true);

      // C tries once the redeem is back. Before that the point shows the code unused, and a device holding
      // it would redeem it again: only members that remember the redeem close that window.
      await expectReplicaCode(c.join(url, { shareCode: code }), "KEY_REQUIRED");
      const pointKeys = (await point.grants()).map((g) => g.key);
      expect((await heldKeys(c)).filter((k) => pointKeys.includes(k))).toEqual([]);
      expect((await c.dump()).rows).toEqual([]);
      expect((await a.members()).map((m) => m.fingerprint)).toEqual(sorted([(await a.device()).fingerprint, (await b.device()).fingerprint]));
      // B is still the member the code made.
      await b.put({ _id: "from-b" });
      await receives(a, { _id: "from-b" });
    });

    it("rollback: the point deletes the newest key and removal entries; members keep sealing with the newest key, put the entries back and report it", async () => {
      const { dir, url, replicas: [a, b, x], fps: [fa, fb] } = await trio(["a", "b", "x"], ["admin", "writer"]);
      const point = await operator(url);
      await a.put({ _id: "before" });
      await Promise.all([receives(b, { _id: "before" }), receives(x, { _id: "before" })]);
      const beforeRemoval = new Set(await point.names(ENTRY_PREFIX));

      // X is removed (epoch 2), then A rotates (epoch 3); B has seen both.
      await a.remove((await x.device()).publicKey);
      await eventually(async () => expect((await x.status()).role).toBe("removed"), { ...WAIT, what: "X to learn of its removal" });
      await x.close();
      await a.rotateKey();
      const grants = await point.grants();
      const newest = grants.at(-1)!;
      expect(grants.map((g) => [g.kind, g.epoch])).toEqual([["found", 1], ["remove", 2], ["key", 3]]);
      expect(newest.to).toEqual(sorted([fa, fb]));
      // B reads what A sealed after rotating, so it holds epoch 3's key and knows the rotation.
      await a.put({ _id: "after-rotation" });
      await receives(b, { _id: "after-rotation" });

      // The operator rolls the log back to before the removal.
      const deleted = await point.rollBackTo(beforeRemoval);
      expect(deleted.length).toBeGreaterThanOrEqual(2);
      const bundles = new Set(await point.names(BUNDLE_PREFIX));
      await b.put({ _id: "after-rollback-b" });
      await a.put({ _id: "after-rollback-a" });
      await Promise.all([a.synced(), b.synced()]);

      // Both still seal with epoch 3's key, which X never held; the deleted entries are back, and it was reported.
      const sealed = await point.sealedWith(await point.newBundles(bundles));
      expect(sealed.length).toBeGreaterThanOrEqual(2);
      expect(new Set(sealed)).toEqual(new Set([newest.key]));
      await eventually(async () => {
        await a.members();
        expect(await point.names(ENTRY_PREFIX)).toEqual(expect.arrayContaining(deleted));
      }, { ...WAIT, what: "the members to put the deleted entries back" });
      expect(await reportedWithheld([a, b])).toBe(true);
      await Promise.all([receives(a, { _id: "after-rollback-b" }), receives(b, { _id: "after-rollback-a" })]);
      expect((await a.members()).map((m) => m.fingerprint)).toEqual(sorted([fa, fb]));
      const held = await heldKeys(x);
      expect(held).toContain(grants[0]!.key);
      expect(held.filter((k) => k === grants[1]!.key || k === newest.key)).toEqual([]);
      // X, back, remembers its removal whatever the point shows.
      const back = await setting.start(dir, "x");
      await expectReplicaCode(back.attach(url), "REMOVED");
    });
  });
}
