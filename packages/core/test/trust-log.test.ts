// The membership log's rules (src/trust/log.ts), with really signed
// entries: authority in the author's own view, removal wins, removal is
// sticky, the current key, share codes once, passphrases until replaced,
// and the same answer whatever order the entries arrive in.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CID } from "multiformats/cid";
import { decodeEntry, type Entry, type Role } from "../src/trust/entry.js";
import { MembershipLog } from "../src/trust/log.js";
import { webCryptoSigner } from "../src/crypto/signing.js";
import { dataHead, grant, logOf, proof, testChecks, testDevice, testDevices, type TestDevice } from "./helpers/trust.js";

const nonce = () => crypto.getRandomValues(new Uint8Array(16));

async function founded(founder: TestDevice) {
  const found = await founder.sign(undefined, [], { kind: "found", nonce: nonce(), grant: grant(1, "aa", [founder]) });
  return { found, point: found.cid };
}

const add = (by: TestDevice, point: CID, parents: Entry[], member: TestDevice, role: Role, grants = [grant(1, "aa", [member])]) =>
  by.sign(point, parents.map((e) => e.cid), { kind: "add", member: member.device, role, grants });

describe("membership log: entries", () => {
  it("round-trip through their bytes, and a changed byte or a wrong signer is INTEGRITY", async () => {
    const a = await testDevice("a");
    const { found } = await founded(a);
    const again = await decodeEntry(found.bytes, webCryptoSigner, found.cid);
    expect(again.cid.equals(found.cid)).toBe(true);
    expect(again.op).toEqual(found.op);
    const bytes = found.bytes.slice();
    bytes[bytes.length - 3]! ^= 1;
    await expect(decodeEntry(bytes, webCryptoSigner)).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(decodeEntry(found.bytes, webCryptoSigner, (await founded(a)).found.cid)).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(decodeEntry(new Uint8Array([0xa0]), webCryptoSigner)).rejects.toMatchObject({ code: "INTEGRITY" });
  });
});

describe("membership log: resolution", () => {
  it("the founder is the first admin, its grant the current key; entries of other points are ignored", async () => {
    const [a, b] = await testDevices();
    const { found, point } = await founded(a);
    const other = await founded(b);
    const log = logOf([found]);
    expect(log.add([other.found, await add(b, other.point, [other.found], a, "writer")])).toBe(0);
    const r = log.resolve();
    expect([...r.members.values()].map((m) => [m.device.fingerprint, m.role])).toEqual([[a.fp, "admin"]]);
    expect(r.current?.epoch).toBe(1);
    expect(r.heads.map(String)).toEqual([point.toString()]);
  });

  it("only admins add; a writer's or a stranger's add does not count; missing parents wait", async () => {
    const [a, b, c, d] = await testDevices();
    const { found, point } = await founded(a);
    const addB = await add(a, point, [found], b, "writer");
    const byWriter = await add(b, point, [addB], c, "writer");
    const byStranger = await add(d, point, [found], c, "admin");
    const log = logOf([found, addB, byWriter, byStranger]);
    const r = log.resolve();
    expect(new Set(r.members.keys())).toEqual(new Set([a.fp, b.fp]));
    expect(r.refused.map((x) => x.reason).sort()).toEqual([
      "its author was not an admin (not a member)",
      "its author was not an admin (writer)",
    ]);
    const orphan = await a.sign(point, [byWriter.cid, await dataHead("nowhere")], { kind: "add", member: d.device, role: "reader", grants: [] });
    log.add([orphan]);
    expect(log.resolve().members.has(d.fp)).toBe(false);
    expect(log.missing().length).toBe(1);
  });

  it("removal: the device leaves for good, its cutoff is kept, and the key it held is no longer current", async () => {
    const [a, b, c] = await testDevices();
    const { found, point } = await founded(a);
    const addB = await add(a, point, [found], b, "writer");
    const addC = await add(a, point, [addB], c, "writer");
    const heads = [await dataHead("d1")];
    const removeB = await a.sign(point, [addC.cid], { kind: "remove", member: b.fp, cutoff: heads, grant: grant(2, "bb", [a, c]) });
    const reAdd = await add(a, point, [removeB], b, "admin");
    const r = logOf([found, addB, addC, removeB, reAdd]).resolve();
    expect(new Set(r.members.keys())).toEqual(new Set([a.fp, c.fp]));
    expect(r.removed.has(b.fp)).toBe(true);
    expect(r.cutoffs.get(b.fp)).toEqual([{ entry: removeB.cid, role: undefined, heads }]);
    expect(r.current).toMatchObject({ epoch: 2 });
    expect(r.current!.holders.has(b.fp)).toBe(false);
  });

  it("removal wins: a removed admin's concurrent add does not stand, nor what the added device then did", async () => {
    const [a, x, y] = await testDevices();
    const { found, point } = await founded(a);
    const addX = await add(a, point, [found], x, "admin");
    const removeX = await a.sign(point, [addX.cid], { kind: "remove", member: x.fp, cutoff: [], grant: grant(2, "bb", [a]) });
    const xAddsY = await add(x, point, [addX], y, "admin"); // concurrent with the removal
    const yCodes = await y.sign(point, [xAddsY.cid], { kind: "code", role: "admin", expires: 1e15, verifyKey: y.device.verifyKey, sealed: new Uint8Array() });
    const r = logOf([found, addX, removeX, xAddsY, yCodes]).resolve();
    expect([...r.members.keys()]).toEqual([a.fp]);
    expect(r.valid.has(xAddsY.cid.toString())).toBe(false);
    expect(r.valid.has(yCodes.cid.toString())).toBe(false);
    expect(r.refused.find((x) => x.entry.equals(xAddsY.cid))?.reason).toBe("written concurrently with its author's removal");
  });

  it("two admins removing each other at once are both removed", async () => {
    const [a, b, c] = await testDevices();
    const { found, point } = await founded(a);
    const addB = await add(a, point, [found], b, "admin");
    const addC = await add(a, point, [addB], c, "writer");
    const aRemovesB = await a.sign(point, [addC.cid], { kind: "remove", member: b.fp, cutoff: [], grant: grant(2, "a2", [a, c]) });
    const bRemovesA = await b.sign(point, [addC.cid], { kind: "remove", member: a.fp, cutoff: [], grant: grant(2, "b2", [b, c]) });
    const r = logOf([found, addB, addC, aRemovesB, bRemovesA]).resolve();
    expect([...r.members.keys()]).toEqual([c.fp]);
    expect(r.current).toBeUndefined(); // every key is held by a removed device: nothing is sealed until an admin rotates (none is left)
  });

  it("a rotation concurrent with a removal that wraps for the removed device never becomes current", async () => {
    const [a, b, x] = await testDevices();
    const { found, point } = await founded(a);
    const addB = await add(a, point, [found], b, "admin");
    const addX = await add(a, point, [addB], x, "writer");
    const removeX = await a.sign(point, [addX.cid], { kind: "remove", member: x.fp, cutoff: [], grant: grant(2, "22", [a, b]) });
    const rotation = await b.sign(point, [addX.cid], { kind: "key", grant: grant(3, "33", [a, b, x]) });
    const r = logOf([found, addB, addX, removeX, rotation]).resolve();
    expect(r.current).toMatchObject({ epoch: 2 });
    expect(r.epochs.map((e) => e.epoch).sort()).toEqual([1, 2, 3]);
  });

  it("demotion: entries that needed the lost role and were concurrent with it fall; roleAt tells the role at a position", async () => {
    const [a, b, c] = await testDevices();
    const { found, point } = await founded(a);
    const addB = await add(a, point, [found], b, "admin");
    const demote = await a.sign(point, [addB.cid], { kind: "role", member: b.fp, role: "reader", cutoff: [] });
    const bAdds = await add(b, point, [addB], c, "writer");
    const log = logOf([found, addB, demote, bAdds]);
    const r = log.resolve();
    expect(r.members.get(b.fp)?.role).toBe("reader");
    expect(r.members.has(c.fp)).toBe(false);
    expect(log.roleAt([addB.cid], b.fp)).toBe("admin");
    expect(log.roleAt([demote.cid], b.fp)).toBe("reader");
    expect(log.roleAt([demote.cid], c.fp)).toBeUndefined();
    expect(log.precedes(addB.cid, [demote.cid])).toBe(true);
    expect(log.precedes(bAdds.cid, [demote.cid])).toBe(false);
  });

  it("a share code is redeemed once, not after it expired, not with a wrong proof; concurrent redeems both stand, flagged as contested", async () => {
    const [a, b, c, d, e] = await testDevices();
    const { found, point } = await founded(a);
    const code = await a.sign(point, [found.cid], { kind: "code", role: "writer", expires: 1000, verifyKey: a.device.verifyKey, sealed: new TextEncoder().encode("aa") });
    const redeem = (who: TestDevice, at: number, ok = true, parents = [code]) =>
      who.sign(point, parents.map((p) => p.cid), { kind: "redeem", grant: code.cid, at, proof: proof(ok) });
    const rb = await redeem(b, 10);
    const late = await redeem(d, 2000);
    const forged = await redeem(e, 10, false);
    const alone = logOf([found, code, rb, late, forged]).resolve();
    expect([...alone.members.keys()].sort()).toEqual([a.fp, b.fp].sort());
    expect(alone.members.get(b.fp)?.role).toBe("writer");
    expect(alone.refused.map((x) => x.reason).sort()).toEqual(["its proof does not match the grant", "the share code had expired"]);
    expect(alone.contested).toEqual([]);
    expect(alone.current).toBeUndefined(); // d redeemed too late, but knew the secret: it holds the code's key
    expect(logOf([found, code, rb, forged]).resolve().current).toMatchObject({ epoch: 1 }); // a wrong proof shows no such knowledge

    // A redeem that saw the first one (a replay after the point restored records) is refused, and
    // since its author knew the secret and so holds the code's key, that key seals nothing more.
    const replay = await redeem(d, 10, true, [rb]);
    const replayed = logOf([found, code, rb, replay]).resolve();
    expect(replayed.members.has(d.fp)).toBe(false);
    expect(replayed.refused.map((x) => x.reason)).toEqual(["the share code was already used or cancelled"]);
    expect(replayed.current).toBeUndefined();
    const rotation = await a.sign(point, replayed.heads, { kind: "key", grant: grant(2, "bb", [a, b]) });
    expect(logOf([found, code, rb, replay, rotation]).resolve().current).toMatchObject({ epoch: 2 });

    // Two redeems that did not see each other (the point hid one from the other): both stand, so
    // neither device loses a membership, or writes, it was already told it had; the code is contested.
    const rc = await redeem(c, 20);
    for (const order of [[found, code, rb, rc], [found, code, rc, rb]]) {
      const r = logOf(order).resolve();
      expect([...r.members.keys()].sort()).toEqual([a.fp, b.fp, c.fp].sort());
      expect(r.contested).toHaveLength(1);
      expect(r.contested[0]!.code.equals(code.cid)).toBe(true);
      expect([...r.contested[0]!.redeemers].sort()).toEqual([b.fp, c.fp].sort());
    }
  });

  it("roleAt judges a position in its own past: a later-known removal never changes it, it only adds cutoffs", async () => {
    const [a, x, y] = await testDevices();
    const { found, point } = await founded(a);
    const addX = await add(a, point, [found], x, "admin");
    const xAddsY = await add(x, point, [addX], y, "writer");
    const heads = [await dataHead("seen by the remover")];
    const removeX = await a.sign(point, [addX.cid], { kind: "remove", member: x.fp, cutoff: heads, grant: grant(2, "bb", [a]) });
    const before = logOf([found, addX, xAddsY]);
    expect(before.roleAt([xAddsY.cid], y.fp)).toBe("writer");
    const after = logOf([found, addX, xAddsY, removeX]);
    // Y wrote at its own position: it was a writer there, whatever is known later…
    expect(after.roleAt([xAddsY.cid], y.fp)).toBe("writer");
    // …but its membership fell with its adder, so it gets the removal's cutoff, like X…
    const r = after.resolve();
    expect(r.members.has(y.fp)).toBe(false);
    expect(r.cutoffs.get(y.fp)).toEqual([{ entry: removeX.cid, role: undefined, heads }]);
    // …and at a position that saw the removal it is no writer.
    const both = await a.sign(point, [removeX.cid, xAddsY.cid], { kind: "key", grant: grant(3, "cc", [a]) });
    expect(logOf([found, addX, xAddsY, removeX, both]).roleAt([both.cid], y.fp)).toBeUndefined();
  });

  it("a removal cancels the codes and passphrases granted before it; a passphrase works until replaced or switched off", async () => {
    const [a, b, c, d, x] = await testDevices();
    const { found, point } = await founded(a);
    const pass = await a.sign(point, [found.cid], { kind: "pass", role: "reader", verifyKey: a.device.verifyKey, sealed: new TextEncoder().encode("aa"), salt: new Uint8Array(16), cost: 15 });
    const redeem = (who: TestDevice, parents: Entry[]) => who.sign(point, parents.map((p) => p.cid), { kind: "redeem", grant: pass.cid, at: 1, proof: proof(true) });
    const [rb, rc] = [await redeem(b, [pass]), await redeem(c, [pass])];
    const addX = await add(a, point, [rb, rc], x, "writer");
    const removeX = await a.sign(point, [addX.cid], { kind: "remove", member: x.fp, cutoff: [], grant: grant(2, "bb", [a, b, c]) });
    const rd = await redeem(d, [removeX]);
    const r = logOf([found, pass, rb, rc, addX, removeX, rd]).resolve();
    expect(new Set(r.members.keys())).toEqual(new Set([a.fp, b.fp, c.fp]));
    expect(r.members.get(b.fp)?.role).toBe("reader");
    expect(r.refused.find((x) => x.entry.equals(rd.cid))?.reason).toBe("the passphrase access was switched off or replaced");
    const off = await a.sign(point, [rc.cid], { kind: "pass", role: null });
    const re = await redeem(d, [off]);
    expect(logOf([found, pass, rb, rc, off, re]).resolve().members.has(d.fp)).toBe(false);
  });

  it("gives the same answer whatever order and grouping the entries arrive in (fast-check)", async () => {
    const devices = await testDevices();
    const [a] = devices;
    const { found, point } = await founded(a);
    // A random history: each step, a random device writes a random op on a random subset of what exists.
    const history = fc.array(
      fc.record({ by: fc.nat(4), kind: fc.constantFrom("add", "remove", "role", "key", "code", "redeem"), target: fc.nat(4), role: fc.constantFrom<Role>("admin", "writer", "reader"), view: fc.nat(), at: fc.nat(2000) }),
      { minLength: 1, maxLength: 14 },
    );
    await fc.assert(
      fc.asyncProperty(history, fc.nat(), async (steps, seed) => {
        const entries: Entry[] = [found];
        for (const [i, step] of steps.entries()) {
          const by = devices[step.by]!;
          const target = devices[step.target]!;
          // A random causal view: a random subset of earlier entries (always including the founding one).
          const parents = entries.filter((_, j) => j === 0 || ((step.view >> j) & 1) === 1).map((e) => e.cid);
          const codes = entries.filter((e) => e.op.kind === "code");
          const op =
            step.kind === "add" ? { kind: "add" as const, member: target.device, role: step.role, grants: [grant(1, "aa", [target])] }
            : step.kind === "remove" ? { kind: "remove" as const, member: target.fp, cutoff: [], grant: grant(2 + i, (0xa0 + i).toString(16), devices.filter((d) => d !== target)) }
            : step.kind === "role" ? { kind: "role" as const, member: target.fp, role: step.role, cutoff: [] }
            : step.kind === "key" ? { kind: "key" as const, grant: grant(2 + i, (0xc0 + i).toString(16), devices.slice(0, 1 + step.target)) }
            : step.kind === "code" || codes.length === 0 ? { kind: "code" as const, role: step.role, expires: 1000, verifyKey: by.device.verifyKey, sealed: new TextEncoder().encode("aa") }
            : { kind: "redeem" as const, grant: codes[step.target % codes.length]!.cid, at: step.at, proof: proof(step.at % 7 !== 0) };
          const grantCid = op.kind === "redeem" ? op.grant.toString() : undefined;
          const withGrant = grantCid && !parents.some((p) => p.toString() === grantCid) ? [...parents, codes.find((c) => c.cid.toString() === grantCid)!.cid] : parents;
          entries.push(await by.sign(point, withGrant, op));
        }
        const reference = summary(logOf(entries));
        // Shuffled and delivered in several batches: the same resolution.
        let s = seed;
        const shuffled = [...entries].sort(() => ((s = (s * 1103515245 + 12345) >>> 0) & 1 ? 1 : -1));
        const log = new MembershipLog(point, testChecks);
        for (let i = 0; i < shuffled.length; i += 3) {
          log.add(shuffled.slice(i, i + 3));
          log.resolve();
        }
        expect(summary(log)).toEqual(reference);
        // Invariants: removed devices are never members nor hold the current key.
        const r = log.resolve();
        for (const removed of r.removed) {
          expect(r.members.has(removed)).toBe(false);
          expect(r.current?.holders.has(removed) ?? false).toBe(false);
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});

function summary(log: MembershipLog) {
  const r = log.resolve();
  return {
    valid: [...r.valid].sort(),
    members: [...r.members.entries()].map(([fp, m]) => [fp, m.role, m.via.toString()]).sort(),
    removed: [...r.removed].sort(),
    current: r.current && [r.current.epoch, r.current.key, [...r.current.holders].sort()],
    heads: r.heads.map(String),
  };
}
