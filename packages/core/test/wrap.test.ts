import { publicKeyFingerprint } from "../src/crypto/wrap-record.js";
import type { DeviceIdentity } from "../src/keyring/types.js";
import * as dagCbor from "@ipld/dag-cbor";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromHex, toBase64Url } from "../src/crypto/encoding.js";
import { seal, unseal } from "../src/crypto/envelope.js";
import { describeKeyRecord, SECRET_BYTES, unwrapFromDevice, unwrapWithSecret, wrapForDevice, wrapWithSecret } from "../src/crypto/wrap.js";
import { HearthError } from "../src/errors.js";
import { openFileKeyring } from "../src/keyring/file.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import type { DataKey, Fingerprint, Keyring } from "../src/keyring/types.js";
import { expectCode } from "./helpers/expect-code.js";

const tempDirs: string[] = [];
const opened: Keyring[] = [];
afterAll(async () => {
  await Promise.all(opened.map((k) => k.close()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

type Kind = "memory" | "file";
async function keyring(kind: Kind): Promise<Keyring> {
  let k: Keyring;
  if (kind === "memory") {
    k = await openMemoryKeyring();
  } else {
    const dir = await mkdtemp(join(tmpdir(), "hearth-wrap-"));
    tempDirs.push(dir);
    k = await openFileKeyring(dir);
  }
  opened.push(k);
  return k;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const CONTEXT = "key/d/000001-point/device";

/** Decodes a record, lets `edit` change the map, re-encodes it canonically. */
function tamper(record: Uint8Array, edit: (map: Record<string, unknown>) => void): Uint8Array {
  const map = dagCbor.decode<Record<string, unknown>>(record);
  edit(map);
  return dagCbor.encode(map);
}

/** `bytes` with bit `bit` of byte `at` flipped. */
function flip(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 1 << bit;
  return out;
}

/** The HearthError code (or "TypeError") a promise rejects with; "resolved" if it does not. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (err) {
    if (err instanceof HearthError) return err.code;
    if (err instanceof TypeError) return "TypeError";
    throw err;
  }
}

async function expectSameKey(a: DataKey, b: DataKey): Promise<void> {
  expect(b.fingerprint).toBe(a.fingerprint);
  expect(await unseal(b, await seal(a, utf8("hello")))).toEqual(utf8("hello"));
}

describe.each([
  ["memory", "file"],
  ["file", "memory"],
  ["file", "file"],
] as const)("device records, %s → %s keyring", (fromKind, toKind) => {
  it("a key wrapped for another device opens there as the same key, naming the wrapper", async () => {
    const [alice, bob] = [await keyring(fromKind), await keyring(toKind)];
    const key = await alice.createKey("point", { shareable: true });
    const bobId = await bob.identity();
    const record = await wrapForDevice(alice, key.fingerprint, bobId.publicKey, CONTEXT);
    const { key: received, from } = await unwrapFromDevice(bob, record, CONTEXT, "from alice");
    await expectSameKey(key, received);
    const aliceId = await alice.identity();
    expect(from).toEqual(agreementOf(aliceId));
    expect(await bob.listKeys()).toEqual([key.fingerprint]);

    // The receiver can invite a third device in turn.
    const carol = await keyring(fromKind);
    const onward = await wrapForDevice(bob, key.fingerprint, (await carol.identity()).publicKey, "key/onward");
    const third = await unwrapFromDevice(carol, onward, "key/onward");
    await expectSameKey(key, third.key);
    expect(third.from.fingerprint).toBe(agreementOf(bobId).fingerprint);
  });
});

describe("device records", () => {
  it("a device can wrap a key for itself", async () => {
    const me = await keyring("file");
    const key = await me.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(me, key.fingerprint, (await me.identity()).publicKey, CONTEXT);
    const { key: again, from } = await unwrapFromDevice(me, record, CONTEXT);
    expect(again.fingerprint).toBe(key.fingerprint);
    expect(from.fingerprint).toBe(agreementOf(await me.identity()).fingerprint);
  });

  it("a record for another device is KEY_REQUIRED", async () => {
    const [alice, bob, carol] = [await keyring("memory"), await keyring("memory"), await keyring("file")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(alice, key.fingerprint, (await bob.identity()).publicKey, CONTEXT);
    await expectCode(unwrapFromDevice(carol, record, CONTEXT), "KEY_REQUIRED");
    await expectCode(unwrapFromDevice(alice, record, CONTEXT), "KEY_REQUIRED");
    expect(await carol.listKeys()).toEqual([]);
  });

  it("a record read under another context (name or sync point) is INTEGRITY", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("file")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(alice, key.fingerprint, (await bob.identity()).publicKey, "point-a/key/d/1");
    await expectCode(unwrapFromDevice(bob, record, "point-b/key/d/1"), "INTEGRITY");
    await expectCode(unwrapFromDevice(bob, record, "point-a/key/d/1 "), "INTEGRITY");
    expect(await bob.listKeys()).toEqual([]);
  });

  it("changing any field is INTEGRITY", async () => {
    const [alice, bob, carol] = [await keyring("memory"), await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const other = await alice.createKey(undefined, { shareable: true });
    const bobId = await bob.identity();
    const carolId = await carol.identity();
    const record = await wrapForDevice(alice, key.fingerprint, bobId.publicKey, CONTEXT);
    const carolPoint = fromBase64(carolId.publicKey);
    const edits: Record<string, (m: Record<string, unknown>) => void> = {
      fp: (m) => (m.fp = other.fingerprint),
      from: (m) => (m.from = carolPoint),
      salt: (m) => (m.salt = flip(m.salt as Uint8Array, 3)),
      iv: (m) => (m.iv = flip(m.iv as Uint8Array, 0)),
      ct: (m) => (m.ct = flip(m.ct as Uint8Array, 40)),
      "to alone": (m) => (m.to = carolId.fingerprint),
      "toKey alone": (m) => (m.toKey = carolPoint),
      version: (m) => (m.v = 2),
      kind: (m) => (m.kind = "secret"),
      "an extra field": (m) => (m.note = "hi"),
      "a missing field": (m) => delete m.salt,
      "a field of the wrong type": (m) => (m.fp = fromHex(key.fingerprint)),
    };
    for (const [what, edit] of Object.entries(edits)) {
      expect(await outcome(unwrapFromDevice(bob, tamper(record, edit), CONTEXT)), what).toBe("INTEGRITY");
    }
    // Readdressed to Carol whole (to and toKey): Carol still cannot open it.
    const readdressed = tamper(record, (m) => {
      m.to = carolId.fingerprint;
      m.toKey = carolPoint;
    });
    await expectCode(unwrapFromDevice(carol, readdressed, CONTEXT), "INTEGRITY");
    expect(await bob.listKeys()).toEqual([]);
    expect((await unwrapFromDevice(bob, record, CONTEXT)).key.fingerprint).toBe(key.fingerprint);
  });

  it("flipping any bit of the record is INTEGRITY", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(alice, key.fingerprint, (await bob.identity()).publicKey, CONTEXT);
    const codes = new Set<string>();
    for (let at = 0; at < record.length; at++) {
      for (const bit of [0, 5]) codes.add(await outcome(unwrapFromDevice(bob, flip(record, at, bit), CONTEXT)));
    }
    expect([...codes]).toEqual(["INTEGRITY"]);
    await expectCode(unwrapFromDevice(bob, record.subarray(0, record.length - 1), CONTEXT), "INTEGRITY");
    await expectCode(unwrapFromDevice(bob, new Uint8Array([1, 2, 3]), CONTEXT), "INTEGRITY");
    await expectCode(unwrapFromDevice(bob, dagCbor.encode([1, 2]), CONTEXT), "INTEGRITY");
    expect(await bob.listKeys()).toEqual([]);
  });

  it("a non-canonical encoding of a valid record is INTEGRITY", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(alice, key.fingerprint, (await bob.identity()).publicKey, CONTEXT);
    // The map header 0xa9 (9 entries) re-encoded with a one-byte length: 0xb8 0x09.
    expect(record[0]).toBe(0xa9);
    const padded = new Uint8Array(record.length + 1);
    padded.set([0xb8, 0x09]);
    padded.set(record.subarray(1), 2);
    await expectCode(unwrapFromDevice(bob, padded, CONTEXT), "INTEGRITY");
  });

  it("a record planted by a stranger opens, and names the stranger as its wrapper", async () => {
    const [bob, mallory] = [await keyring("memory"), await keyring("memory")];
    const planted = await mallory.createKey(undefined, { shareable: true });
    const record = await wrapForDevice(mallory, planted.fingerprint, (await bob.identity()).publicKey, CONTEXT);
    const { from } = await unwrapFromDevice(bob, record, CONTEXT);
    expect(from.fingerprint).toBe(agreementOf(await mallory.identity()).fingerprint);
  });

  it("refuses local keys, missing keys and bad public keys", async () => {
    const [alice, bob] = [await keyring("file"), await keyring("memory")];
    const bobKey = (await bob.identity()).publicKey;
    const local = await alice.createKey("local store");
    await expectCode(wrapForDevice(alice, local.fingerprint, bobKey, CONTEXT), "INVALID_ARGUMENT");
    await expectCode(wrapForDevice(alice, "a".repeat(32) as Fingerprint, bobKey, CONTEXT), "KEY_REQUIRED");
    const shared = await alice.createKey(undefined, { shareable: true });
    const offCurve = new Uint8Array(65).fill(1);
    offCurve[0] = 4;
    for (const bad of ["", "not base64!", bobKey.slice(1), toBase64Url(offCurve), toBase64Url(fromBase64(bobKey).subarray(0, 33))]) {
      await expectCode(wrapForDevice(alice, shared.fingerprint, bad, CONTEXT), "INVALID_ARGUMENT");
    }
    await expectCode(wrapForDevice(alice, shared.fingerprint, bobKey, ""), "INVALID_ARGUMENT");
  });

  it("a record of another kind is INTEGRITY", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const secret = freshSecret();
    await expectCode(unwrapFromDevice(bob, await wrapWithSecret(alice, [key.fingerprint], secret, CONTEXT), CONTEXT), "INTEGRITY");
  });

  it("wrong argument types are TypeErrors", async () => {
    const alice = await keyring("memory");
    const key = await alice.createKey(undefined, { shareable: true });
    const pub = (await alice.identity()).publicKey;
    const any = (v: unknown): never => v as never;
    expect(await outcome(wrapForDevice(any({}), key.fingerprint, pub, CONTEXT))).toBe("TypeError");
    expect(await outcome(wrapForDevice(alice, any("xyz"), pub, CONTEXT))).toBe("TypeError");
    expect(await outcome(wrapForDevice(alice, key.fingerprint, any(42), CONTEXT))).toBe("TypeError");
    expect(await outcome(wrapForDevice(alice, key.fingerprint, pub, any(undefined)))).toBe("TypeError");
    const record = await wrapForDevice(alice, key.fingerprint, pub, CONTEXT);
    expect(await outcome(unwrapFromDevice(alice, any([...record]), CONTEXT))).toBe("TypeError");
    expect(await outcome(unwrapFromDevice(alice, record, any(1)))).toBe("TypeError");
    expect(await outcome(unwrapFromDevice(alice, record, CONTEXT, any(1)))).toBe("TypeError");
  });
});

describe("describeKeyRecord", () => {
  it("reads each kind's public header without a key", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const [k1, k2] = [await alice.createKey(undefined, { shareable: true }), await alice.createKey(undefined, { shareable: true })];
    const aliceId = await alice.identity();
    const bobId = await bob.identity();
    expect(describeKeyRecord(await wrapForDevice(alice, k1.fingerprint, bobId.publicKey, CONTEXT))).toEqual({
      kind: "device",
      fp: k1.fingerprint,
      fps: [k1.fingerprint],
      to: agreementOf(bobId).fingerprint,
      toKey: agreementOf(bobId).publicKey,
      from: agreementOf(aliceId),
    });
    const secret = freshSecret();
    expect(describeKeyRecord(await wrapWithSecret(alice, [k2.fingerprint, k1.fingerprint], secret, CONTEXT))).toEqual({
      kind: "secret",
      fps: [k2.fingerprint, k1.fingerprint],
    });
  });

  it("a malformed record is INTEGRITY", () => {
    for (const bad of [new Uint8Array(0), utf8("{}"), dagCbor.encode({ v: 1, kind: "device" }), dagCbor.encode({ v: 9, kind: "device" })]) {
      expect(() => describeKeyRecord(bad)).toThrow(HearthError);
      try {
        describeKeyRecord(bad);
      } catch (err) {
        expect((err as HearthError).code).toBe("INTEGRITY");
      }
    }
    expect(() => describeKeyRecord("x" as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe.each([
  ["memory", "file"],
  ["file", "memory"],
] as const)("secret records, %s → %s keyring", (fromKind, toKind) => {
  it("one record carries several keys, which open in order", async () => {
    const [alice, bob] = [await keyring(fromKind), await keyring(toKind)];
    const keys = [await alice.createKey("e1", { shareable: true }), await alice.createKey("e2", { shareable: true }), await alice.createKey("e3", { shareable: true })];
    const secret = freshSecret();
    const name = "key/s/0123456789abcdef";
    const record = await wrapWithSecret(alice, keys.map((k) => k.fingerprint), secret, name);
    const received = await unwrapWithSecret(bob, record, secret, name, "by code");
    expect(received.map((k) => k.fingerprint)).toEqual(keys.map((k) => k.fingerprint));
    for (const [i, key] of keys.entries()) await expectSameKey(key, received[i]!);
    expect(await bob.listKeys()).toEqual(keys.map((k) => k.fingerprint).sort());
  });
});

describe("secret records", () => {
  async function setup(): Promise<{ alice: Keyring; bob: Keyring; keys: DataKey[]; secret: Uint8Array; record: Uint8Array }> {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const keys = [await alice.createKey(undefined, { shareable: true }), await alice.createKey(undefined, { shareable: true })];
    const secret = freshSecret();
    const record = await wrapWithSecret(alice, keys.map((k) => k.fingerprint), secret, CONTEXT);
    return { alice, bob, keys, secret, record };
  }

  it("another secret or another context is INTEGRITY", async () => {
    const { bob, secret, record } = await setup();
    await expectCode(unwrapWithSecret(bob, record, freshSecret(), CONTEXT), "INTEGRITY");
    await expectCode(unwrapWithSecret(bob, record, secret, "key/s/elsewhere"), "INTEGRITY");
    expect(await bob.listKeys()).toEqual([]);
  });

  it("changing, dropping, reordering or swapping keys is INTEGRITY", async () => {
    const { alice, bob, keys, secret, record } = await setup();
    type Entry = { fp: string; iv: Uint8Array; ct: Uint8Array };
    const otherRecord = await wrapWithSecret(alice, [keys[0]!.fingerprint], secret, CONTEXT);
    const edits: Record<string, (m: Record<string, unknown>) => void> = {
      salt: (m) => (m.salt = flip(m.salt as Uint8Array, 0)),
      "a key's fp": (m) => ((m.keys as Entry[])[1]!.fp = (m.keys as Entry[])[0]!.fp.replace(/^./, "f")),
      "a key's iv": (m) => ((m.keys as Entry[])[0]!.iv = flip((m.keys as Entry[])[0]!.iv, 2)),
      "a key's ct": (m) => ((m.keys as Entry[])[0]!.ct = flip((m.keys as Entry[])[0]!.ct, 7)),
      "dropping a key": (m) => (m.keys as Entry[]).pop(),
      "reordering keys": (m) => (m.keys as Entry[]).reverse(),
      "a key from another record": (m) => ((m.keys as Entry[])[0] = dagCbor.decode<{ keys: Entry[] }>(otherRecord).keys[0]!),
      "a duplicate key": (m) => (m.keys as Entry[]).push((m.keys as Entry[])[0]!),
      "no keys": (m) => (m.keys = []),
      "an extra field": (m) => (m.x = 1),
      kind: (m) => (m.kind = "passphrase"), // a kind that no longer exists
    };
    for (const [what, edit] of Object.entries(edits)) {
      expect(await outcome(unwrapWithSecret(bob, tamper(record, edit), secret, CONTEXT)), what).toBe("INTEGRITY");
    }
    const codes = new Set<string>();
    for (let at = 0; at < record.length; at += 3) codes.add(await outcome(unwrapWithSecret(bob, flip(record, at), secret, CONTEXT)));
    expect([...codes]).toEqual(["INTEGRITY"]);
    // A flip in the second key's ciphertext leaves the first, authentic key
    // stored (keys are stored as each opens); nothing else is ever stored.
    const authentic = new Set<string>(keys.map((k) => k.fingerprint));
    expect((await bob.listKeys()).every((fp) => authentic.has(fp))).toBe(true);
  });

  it("refuses local and missing keys, empty lists and malformed secrets", async () => {
    const alice = await keyring("file");
    const shared = await alice.createKey(undefined, { shareable: true });
    const local = await alice.createKey();
    const secret = freshSecret();
    await expectCode(wrapWithSecret(alice, [shared.fingerprint, local.fingerprint], secret, CONTEXT), "INVALID_ARGUMENT");
    await expectCode(wrapWithSecret(alice, [shared.fingerprint, "b".repeat(32) as Fingerprint], secret, CONTEXT), "KEY_REQUIRED");
    await expectCode(wrapWithSecret(alice, [], secret, CONTEXT), "INVALID_ARGUMENT");
    expect(await outcome(wrapWithSecret(alice, [shared.fingerprint], secret.subarray(0, 8), CONTEXT))).toBe("TypeError");
    expect(await outcome(wrapWithSecret(alice, shared.fingerprint as unknown as Fingerprint[], secret, CONTEXT))).toBe("TypeError");
    expect(await outcome(wrapWithSecret(alice, ["nope" as Fingerprint], secret, CONTEXT))).toBe("TypeError");
    // Duplicates are wrapped once.
    const record = await wrapWithSecret(alice, [shared.fingerprint, shared.fingerprint], secret, CONTEXT);
    expect(describeKeyRecord(record).fps).toEqual([shared.fingerprint]);
  });
});

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** A device's key-agreement (ECDH) key as key records name it: printable, and its fingerprint. */
function agreementOf(identity: DeviceIdentity): { publicKey: string; fingerprint: string } {
  return { publicKey: toBase64Url(identity.agreementPublicKey), fingerprint: publicKeyFingerprint(identity.agreementPublicKey) };
}

/** A fresh wrapping secret, as a share code or a stretched passphrase gives. */
function freshSecret(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
}
