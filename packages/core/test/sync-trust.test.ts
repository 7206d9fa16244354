// Trust through a real sync point, with separate devices (their own
// keyrings): roles, removal (with writes concurrent with it), rotation,
// share codes once, passphrases, and what a writer to the sync point that
// is not a member can and cannot do.
import { afterEach, describe, expect, it } from "vitest";
import { HearthError } from "../src/errors.js";
import { openMemoryRemote } from "../src/remote/memory.js";
import { readEnvelopeFingerprint } from "../src/crypto/envelope.js";
import { webCryptoSigner } from "../src/crypto/signing.js";
import { decodeEntry } from "../src/trust/entry.js";
import type { Remote } from "../src/remote/types.js";
import { eventually } from "./helpers/eventually.js";
import { expectCode } from "./helpers/expect-code.js";
import { Peers, docsOf } from "./helpers/sync-peers.js";

const SYNCED = { timeoutMs: 10_000 };
let peers: Peers | undefined;
afterEach(async () => {
  await peers?.closeAll();
  peers = undefined;
});

/**
 * A view of a memory sync point whose membership listing can be frozen: while
 * frozen, entries put after the freeze are hidden from it (a replica that has
 * not seen a removal yet).
 */
async function freezableRemote(url: string): Promise<{ remote: Remote; freeze(): Promise<void>; thaw(): void }> {
  const inner = await openMemoryRemote(url);
  let visible: Set<string> | undefined;
  const hidden = (name: string): boolean => visible !== undefined && name.startsWith("m/") && !visible.has(name);
  return {
    remote: {
      url: inner.url,
      supports: inner.supports,
      put: (name, bytes) => inner.put(name, bytes),
      get: async (name) => (hidden(name) ? undefined : inner.get(name)),
      list: async (prefix) => (await inner.list(prefix)).filter((n) => !hidden(n)),
      delete: (name) => inner.delete(name),
      watch: (prefix, fn) => inner.watch!(prefix, (changes) => fn(changes?.filter((c) => !hidden(c.name)))),
      close: () => inner.close(),
    },
    freeze: async () => void (visible = new Set(await inner.list("m/"))),
    thaw: () => void (visible = undefined),
  };
}

describe("roles", () => {
  it("a reader reads; its writes stay on it (FORBIDDEN at once from synced) and never reach the others", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const admin = await peers.open("admin");
    const sa = await admin.attach(point);
    await admin.put({ _id: "shared", v: 1 });
    const reader = await peers.open("reader");
    const sr = await peers.join(reader, point, admin, "reader");
    await sr.synced(SYNCED);
    expect(await reader.get("shared")).toEqual({ _id: "shared", v: 1 });
    expect(sr.status().role).toBe("reader");
    await reader.put({ _id: "from-reader" });
    await expectCode(sr.synced(SYNCED), "FORBIDDEN");
    expect(sr.status()).toMatchObject({ state: "error", error: { code: "FORBIDDEN" } });
    await admin.put({ _id: "later" });
    await sa.synced(SYNCED);
    // The reader keeps receiving, and its own write never arrives anywhere.
    await eventually(async () => expect(await reader.get("later")).toEqual({ _id: "later" }), { timeoutMs: 10_000 });
    await expectCode(admin.get("from-reader"), "NOT_FOUND");
    // Only admins change membership.
    await expectCode(sr.createShareCode(), "FORBIDDEN");
    await expectCode(sr.invite((await admin.device()).publicKey), "FORBIDDEN");
    expect((await sa.members()).map((m) => m.role).sort()).toEqual(["admin", "reader"]);
  });

  it("a reader made a writer pushes what it wrote meanwhile", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const admin = await peers.open("admin");
    const sa = await admin.attach(point);
    const member = await peers.open("member");
    const sm = await peers.join(member, point, admin, "reader");
    await member.put({ _id: "held" });
    await expectCode(sm.synced(SYNCED), "FORBIDDEN");
    await sa.invite((await member.device()).publicKey, { role: "writer" });
    await eventually(async () => expect(await admin.get("held")).toEqual({ _id: "held" }), { timeoutMs: 10_000 });
    await sm.synced(SYNCED);
  });
});

describe("removal", () => {
  it("a removed device reads nothing new, its later writes are refused everywhere, and no later rotation wraps for it", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const b = await peers.open("b");
    const sb = await peers.join(b, point, a, "admin");
    const x = await peers.open("x");
    const sx = await peers.join(x, point, a);
    await a.put({ _id: "before" });
    await Promise.all([sb.synced(SYNCED), sx.synced(SYNCED)]);
    await sa.remove((await x.device()).publicKey);
    await a.put({ _id: "after" });
    await sa.synced(SYNCED);
    // B rotates later: the new key must not be wrapped for X.
    await sb.synced(SYNCED);
    await sb.rotateKey();
    await b.put({ _id: "after-rotation" });
    await sb.synced(SYNCED);
    // With nothing to push, a removed device's synced() is REMOVED at once too (never a TIMEOUT).
    await eventually(async () => expect((await sx.synced(SYNCED).then(() => "synced", (e: HearthError) => e.code))).toBe("REMOVED"), { timeoutMs: 10_000 });
    expect(sx.status()).toMatchObject({ role: "removed", state: "error", error: { code: "REMOVED" } });
    // Its own writes stay on it, also one made the moment it learned of the removal.
    await x.put({ _id: "from-removed", balance: 0 });
    await expectCode(sx.synced(SYNCED), "REMOVED");
    expect(await x.get("from-removed")).toEqual({ _id: "from-removed", balance: 0 });
    expect(await x.get("before")).toEqual({ _id: "before" });
    await expectCode(x.get("after"), "NOT_FOUND");
    await expectCode(x.get("after-rotation"), "NOT_FOUND");
    await Promise.all([sa.synced(SYNCED), sb.synced(SYNCED)]);
    await expectCode(a.get("from-removed"), "NOT_FOUND");
    const xFingerprint = (await x.device()).fingerprint;
    expect((await sa.members()).map((m) => m.fingerprint)).not.toContain(xFingerprint);
    // X cannot come back by attaching again, nor be invited again.
    await sx.detach();
    await expectCode(x.attach(point), "REMOVED");
    await expectCode(sa.invite((await x.device()).publicKey), "INVALID_ARGUMENT");
  });

  it("writes a device made concurrently with its removal are taken back on every replica, also one that merged them first", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(url);
    const b = await peers.open("b");
    const viewB = await freezableRemote(url);
    const sb = await peers.join(b, viewB.remote, a);
    const x = await peers.open("x");
    const viewX = await freezableRemote(url);
    const sx = await peers.join(x, viewX.remote, a);
    await a.put({ _id: "acct", balance: 100 });
    await Promise.all([sb.synced(SYNCED), sx.synced(SYNCED)]);
    // B and X do not see membership changes for a while; A removes X.
    await viewB.freeze();
    await viewX.freeze();
    await sa.remove((await x.device()).publicKey);
    // X, unaware, writes and pushes; B, unaware, merges it.
    await x.put({ _id: "acct", balance: 0 });
    await x.put({ _id: "x-only" });
    await sx.synced(SYNCED);
    await eventually(async () => expect(await b.get("acct")).toEqual({ _id: "acct", balance: 0 }), { timeoutMs: 10_000 });
    // A (which knew of the removal) merges X's writes inert.
    await sa.synced(SYNCED);
    expect(await a.get("acct")).toEqual({ _id: "acct", balance: 100 });
    await expectCode(a.get("x-only"), "NOT_FOUND");
    // B learns of the removal: it takes X's writes back, and says so.
    const changed: string[] = [];
    b.subscribe((docs) => changed.push(...docs.map((d) => d._id)));
    viewB.thaw();
    // The notification of the removal was missed; B's next listing (its poll, or synced()) reads the log again.
    await sb.synced(SYNCED);
    expect(await b.get("acct")).toEqual({ _id: "acct", balance: 100 });
    await expectCode(b.get("x-only"), "NOT_FOUND");
    expect(changed).toContain("acct");
    expect(sb.status().rejected).toBeGreaterThan(0);
    await Promise.all([sa.synced(SYNCED), sb.synced(SYNCED)]);
    expect(await b.root()).toBe(await a.root());
    // B writes on top: its write is fine everywhere.
    await b.put({ _id: "acct", balance: 150 });
    await sb.synced(SYNCED);
    await eventually(async () => expect(await a.get("acct")).toEqual({ _id: "acct", balance: 150 }), { timeoutMs: 10_000 });
    // The state survives a restart of B (the whiteout is durable).
    await b.close();
    const again = await peers.reopen("b");
    expect(await again.get("acct")).toEqual({ _id: "acct", balance: 150 });
    await expectCode(again.get("x-only"), "NOT_FOUND");
  });
});

describe("share codes and passphrases", () => {
  it("a share code gives its role and works once; two redeems at the same moment both stand, flagged; not after it expired", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    const sa = await a.attach(point);
    const code = await sa.createShareCode({ role: "reader" });
    const [b, c] = [await peers.open("b"), await peers.open("c")];
    const outcomes = await Promise.allSettled([b.attach(point, { shareCode: code }), c.attach(point, { shareCode: code })]);
    for (const o of outcomes) if (o.status === "rejected") expect((o.reason as HearthError).code).toBe("KEY_REQUIRED");
    const joined = outcomes.filter((o) => o.status === "fulfilled").length;
    expect(joined).toBeGreaterThanOrEqual(1);
    await sa.synced(SYNCED);
    const members = await sa.members();
    // One redeem saw the other (the second was refused), or neither did: then both stand, and both are flagged.
    expect(members.filter((m) => m.role === "reader")).toHaveLength(joined);
    expect(members.filter((m) => m.warning !== undefined)).toHaveLength(joined === 2 ? 2 : 0);
    await a.put({ _id: "after-the-race" });
    await sa.synced(SYNCED);
    for (const db of [b, c]) {
      const attachment = db.attachments()[0];
      if (!attachment) continue;
      await attachment.synced(SYNCED);
      expect(await db.get("after-the-race")).toEqual({ _id: "after-the-race" });
    }
    const expired = await sa.createShareCode({ expiresInMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5)); // the code's expiry, by the clock: nothing else to wait on
    const d = await peers.open("d");
    await expectCode(d.attach(point, { shareCode: expired }), "KEY_REQUIRED");
  });

  it("a used share code the sync point replays while no member is online: both redeemers stand, the admin is told, every replica converges", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const inner = await openMemoryRemote(url);
    const a = await peers.open("a");
    let sa = await a.attach(url);
    await a.put({ _id: "secret" });
    await sa.synced(SYNCED);
    const code = await sa.createShareCode();
    const before = new Set(await inner.list("m/"));
    const b = await peers.open("b");
    const sb = await b.attach(url, { shareCode: code });
    await b.put({ _id: "from-b" });
    await sb.synced(SYNCED);
    await sa.synced(SYNCED);
    expect(await a.get("from-b")).toEqual({ _id: "from-b" });
    await sb.detach();
    await sa.detach(); // nobody online
    for (const name of await inner.list("m/")) if (!before.has(name)) await inner.delete(name); // the point hides B's redeem
    const c = await peers.open("c"); // who got hold of the code
    const sc = await c.attach(url, { shareCode: code });
    expect(sc.status().role).toBe("writer");

    const logged: string[] = [];
    sa = await a.attach(url, { logger: (event, detail) => void (event === "withheld" && logged.push(String(detail.message))) });
    await sa.synced(SYNCED);
    const members = await sa.members();
    const [bFp, cFp] = [(await b.device()).fingerprint, (await c.device()).fingerprint];
    expect(members.map((m) => m.fingerprint).sort()).toEqual([(await a.device()).fingerprint, bFp, cFp].sort());
    for (const fp of [bFp, cFp]) expect(members.find((m) => m.fingerprint === fp)?.warning).toMatch(/concurrently/);
    await eventually(() => expect(logged.some((m) => m.includes("did not see each other's redeem"))).toBe(true));

    // B keeps its membership and its acknowledged write; a new member agrees with A.
    const sb2 = await b.attach(url);
    await b.put({ _id: "b-again" });
    await sb2.synced(SYNCED);
    const d = await peers.open("d");
    const sd = await peers.join(d, url, a);
    for (let round = 0; round < 2; round++) for (const att of [sa, sb2, sc, sd]) await att.synced(SYNCED);
    const roots = await Promise.all([a, b, c, d].map((db) => db.root()));
    expect(new Set(roots).size).toBe(1);
    expect(await d.get("from-b")).toEqual({ _id: "from-b" });
    expect(sd.status().rejected).toBe(0);
    // The admin removes the device it did not give the code to.
    await sa.remove((await c.device()).publicKey);
    expect((await sa.members()).map((m) => m.fingerprint)).not.toContain(cFp);
  });

  it("a redeemed share code stays redeemed when the sync point restores or deletes records", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const inner = await openMemoryRemote(url);
    const a = await peers.open("a");
    const sa = await a.attach(url);
    const code = await sa.createShareCode();
    const before = new Set(await inner.list("m/"));
    const b = await peers.open("b");
    await b.attach(url, { shareCode: code });
    // The sync point deletes the redeem entry (a "restored" code): members still hold it, and put it back.
    for (const name of await inner.list("m/")) if (!before.has(name)) await inner.delete(name);
    const c = await peers.open("c");
    await expectCode(c.attach(url, { shareCode: code }), "KEY_REQUIRED");
    await sa.members();
    expect((await inner.list("m/")).length).toBeGreaterThan(before.size); // restored by A
    await expectCode(c.attach(url, { shareCode: code }), "KEY_REQUIRED");
  });

  it("weak passphrases are refused; a removal switches passphrase access off unless a new passphrase is given", async () => {
    peers = new Peers("memory");
    const point = peers.syncPoint("memory");
    const a = await peers.open("a");
    await expectCode(a.attach(point, { passphrase: "1" }), "INVALID_ARGUMENT");
    await expectCode(a.attach(point, { passphrase: "password1234" }), "INVALID_ARGUMENT");
    const sa = await a.attach(point, { passphrase: "correct horse battery staple" });
    const b = await peers.open("b");
    const sb = await b.attach(point, { passphrase: "correct horse battery staple" });
    await sb.synced(SYNCED);
    await sa.remove((await b.device()).publicKey, { passphrase: "violet umbrella quietly sings" });
    const c = await peers.open("c");
    await expectCode(c.attach(point, { passphrase: "correct horse battery staple" }), "KEY_REQUIRED");
    await c.attach(point, { passphrase: "violet umbrella quietly sings" });
    const d = await peers.open("d");
    await sa.remove((await c.device()).publicKey);
    await expectCode(d.attach(point, { passphrase: "violet umbrella quietly sings" }), "KEY_REQUIRED");
  });
});

describe("membership notifications", () => {
  it("an entry put while this replica is reading the log is read right after, not at the next poll", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const admin = await peers.open("admin");
    const sa = await admin.attach(url);
    // The member's view: a listing of entries can be held after it is taken (so it predates what
    // is put meanwhile), and the entry notifications it passes on are counted.
    const inner = await openMemoryRemote(url);
    let hold: { taken: () => void; release: Promise<void> } | undefined;
    let notified = 0;
    const view: Remote = {
      url: inner.url,
      supports: inner.supports,
      put: (name, bytes) => inner.put(name, bytes),
      get: (name) => inner.get(name),
      list: async (prefix) => {
        const names = await inner.list(prefix);
        const held = prefix === "m/" ? hold : undefined;
        if (held) {
          hold = undefined;
          held.taken();
          await held.release;
        }
        return names;
      },
      delete: (name) => inner.delete(name),
      watch: (prefix, fn) =>
        inner.watch!(prefix, (changes) => {
          fn(changes);
          if (prefix === "m/") notified++;
        }),
      close: () => inner.close(),
    };
    const member = await peers.open("member");
    const sm = await peers.join(member, view, admin);
    await sm.synced(SYNCED);
    await sa.synced(SYNCED);
    expect(sm.digest()).toBe(sa.digest());
    let release!: () => void;
    const taken = new Promise<void>((resolve) => {
      hold = { taken: resolve, release: new Promise<void>((r) => (release = r)) };
    });
    const reading = sm.members(); // reads the log: its listing is taken now, and held
    await taken;
    const before = notified;
    await sa.createShareCode(); // a new entry, put while that read is under way
    await eventually(() => expect(notified).toBeGreaterThan(before), { what: "the member to hear of the new entry" });
    release();
    await reading;
    // Well before the slow poll (10 s) would find it.
    await eventually(() => expect(sm.digest()).toBe(sa.digest()), { timeoutMs: 3_000, what: "the member to read the entry put during its read" });
  });
});

describe("withholding", () => {
  it("the sync point deletes a writer's bundle and announcement: the writer notices and pushes again; its later writes are not stuck", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const raw = await openMemoryRemote(url);
    const a = await peers.open("a");
    let sa = await a.attach(url);
    const b = await peers.open("b");
    const sb = await peers.join(b, url, a);
    await sb.synced(SYNCED);
    await sb.detach();
    const before = new Set([...(await raw.list("bundle/")), ...(await raw.list("head/"))]);
    await a.put({ _id: "withheld", pad: "x".repeat(4_000) });
    await sa.synced(SYNCED);
    for (const name of [...(await raw.list("bundle/")), ...(await raw.list("head/"))]) if (!before.has(name)) await raw.delete(name);
    const sb2 = await b.attach(url);
    await sb2.synced(SYNCED);
    await expectCode(b.get("withheld"), "NOT_FOUND"); // nothing tells B it is missing
    // A checks what it stored when it attaches (and on its slow poll), and pushes the lost write again.
    await sa.detach();
    const trace: string[] = [];
    sa = await a.attach(url, { logger: (event) => trace.push(event) });
    await a.put({ _id: "later" });
    await sa.synced(SYNCED);
    expect(trace).toContain("withheld");
    expect(sa.status().error).toBeUndefined(); // in sync again: the note is over
    await eventually(async () => expect(Object.keys(await docsOf(b)).sort()).toEqual(["later", "withheld"]), { timeoutMs: 10_000 });
    expect(await b.root()).toBe(await a.root());
    await raw.close();
  });

  it("the sync point keeps an announcement but withholds its bundle: the reader says WITHHELD instead of idle", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const raw = await openMemoryRemote(url);
    const a = await peers.open("a");
    const sa = await a.attach(url);
    const b = await peers.open("b");
    const sb = await peers.join(b, url, a);
    await sb.synced(SYNCED);
    await sb.detach();
    const before = new Set(await raw.list("bundle/"));
    await a.put({ _id: "big", pad: "y".repeat(4_000) });
    await sa.synced(SYNCED);
    for (const name of await raw.list("bundle/")) if (!before.has(name)) await raw.delete(name);
    const sb2 = await b.attach(url);
    await expectCode(sb2.synced({ timeoutMs: 1_000 }), "TIMEOUT");
    expect(sb2.status()).toMatchObject({ state: "syncing", behind: 1, error: { code: "WITHHELD" } });
    await raw.close();
  });

  it("deleting the newest key entry does not roll members back to the old key; the entry is put back and reported", async () => {
    peers = new Peers("memory");
    const url = peers.syncPoint("memory");
    const raw = await openMemoryRemote(url);
    const trace: string[] = [];
    const a = await peers.open("a");
    const sa = await a.attach(url, { logger: (event) => trace.push(event) }); // whoever notices first puts it back
    const b = await peers.open("b");
    const { invitations } = await a.invite((await b.device()).publicKey);
    const sb = await b.attach(url, { invitation: invitations[0]!, logger: (event) => trace.push(event) });
    await sb.synced(SYNCED);
    const before = new Set(await raw.list("m/"));
    await sa.rotateKey();
    await sb.synced(SYNCED);
    const [rotationName] = (await raw.list("m/")).filter((n) => !before.has(n));
    const rotation = await decodeEntry((await raw.get(rotationName!))!, webCryptoSigner);
    const newKey = rotation.op.kind === "key" ? rotation.op.grant.key : "";
    await raw.delete(rotationName!);
    // B writes: sealed with the new key (it remembers the rotation), and the rotation is back at the point.
    const bundlesBefore = new Set(await raw.list("bundle/"));
    await b.put({ _id: "after-delete" });
    await sb.synced(SYNCED);
    const fresh = (await raw.list("bundle/")).filter((n) => !bundlesBefore.has(n));
    expect(fresh.length).toBe(1);
    expect(readEnvelopeFingerprint((await raw.get(fresh[0]!))!)).toBe(newKey);
    expect(await raw.list("m/")).toContain(rotationName);
    expect(trace).toContain("withheld");
    await eventually(async () => expect(await a.get("after-delete")).toEqual({ _id: "after-delete" }), { timeoutMs: 10_000 });
    await raw.close();
  });
});
