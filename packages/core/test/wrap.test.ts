import { publicKeyFingerprint } from "../src/crypto/wrap-record.js";
import type { DeviceIdentity } from "../src/keyring/types.js";
import * as dagCbor from "@ipld/dag-cbor";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromHex, toBase64Url } from "../src/crypto/encoding.js";
import { seal, unseal } from "../src/crypto/envelope.js";
import {
  createShareSecret, DEFAULT_PASSPHRASE_ITERATIONS, describeKeyRecord, formatShareCode, MIN_PASSPHRASE_ITERATIONS, parseShareCode,
  unwrapFromDevice, unwrapWithPassphrase, unwrapWithSecret, wrapForDevice, wrapWithPassphrase, wrapWithSecret,
} from "../src/crypto/wrap.js";
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
const FAST = { iterations: MIN_PASSPHRASE_ITERATIONS };
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
    const { secret } = createShareSecret();
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
    const { secret } = createShareSecret();
    expect(describeKeyRecord(await wrapWithSecret(alice, [k2.fingerprint, k1.fingerprint], secret, CONTEXT))).toEqual({
      kind: "secret",
      fps: [k2.fingerprint, k1.fingerprint],
    });
    expect(describeKeyRecord(await wrapWithPassphrase(alice, [k1.fingerprint], "pass", CONTEXT, { iterations: 12_345 }))).toEqual({
      kind: "passphrase",
      fps: [k1.fingerprint],
      iterations: 12_345,
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

describe("share codes", () => {
  // Fixtures checked against Python's base64.b32encode and hashlib.sha256.
  const FIXTURES = [
    { secret: "00000000000000000000000000000000", code: "hs1-aaaaaaaaaaaaaaaaaaaaaaaaabtl7mmz", id: "440fb032f24753a4" },
    { secret: "ffffffffffffffffffffffffffffffff", code: "hs1-77777777777777777777777777ugjbht", id: "a48b7b6b75fe3bab" },
    { secret: "000102030405060708090a0b0c0d0e0f", code: "hs1-aaaqeayeaudaocajbifqydiob43kcpqq", id: "ab10347e9fb004b5" },
    { secret: "8f3a19c2d4e5b6a7980112233445566f", code: "hs1-r45btqwu4w3kpgabcirtirkwn6xfflr7", id: "23e38cb5d56bc6e0" },
  ];

  it.each(FIXTURES)("$code encodes secret $secret with id $id", ({ secret, code, id }) => {
    expect(formatShareCode(fromHex(secret))).toBe(code);
    const parsed = parseShareCode(code);
    expect(parsed.id).toBe(id);
    expect(parsed.secret).toEqual(fromHex(secret));
  });

  it("fresh codes are printable, parse back to their id and secret, and differ", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { code, id, secret } = createShareSecret();
      expect(code).toMatch(/^hs1-[a-z2-7]{32}$/);
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      expect(secret.length).toBe(16);
      expect(parseShareCode(code)).toEqual({ id, secret });
      seen.add(code);
    }
    expect(seen.size).toBe(200);
  });

  it("parsing forgives case, surrounding space and separators", () => {
    const { code, id } = FIXTURES[3]!;
    const body = code.slice(4);
    for (const variant of [code.toUpperCase(), `  ${code}\n`, `hs1-${body.match(/.{4}/g)!.join("-")}`, `hs1-${body.match(/.{8}/g)!.join(" ")}`]) {
      expect(parseShareCode(variant).id, variant).toBe(id);
    }
  });

  it("malformed codes are INVALID_ARGUMENT; a non-string is a TypeError", () => {
    const { code } = FIXTURES[3]!;
    const body = code.slice(4);
    const bad = [
      "",
      body, // prefix missing
      `hs2-${body}`, // a future format
      `xx1-${body}`,
      code.slice(0, -1), // cut off
      `${code}a`, // joined with more
      code.slice(0, 10) + "0" + code.slice(11), // a character never used
      code.slice(0, 10) + "1" + code.slice(11),
      code.slice(0, -1) + (code.endsWith("a") ? "b" : "a"), // checksum
    ];
    for (const text of bad) {
      let err: unknown;
      try {
        parseShareCode(text);
      } catch (e) {
        err = e;
      }
      expect((err as HearthError | undefined)?.code, JSON.stringify(text)).toBe("INVALID_ARGUMENT");
    }
    expect(() => parseShareCode(42 as unknown as string)).toThrow(TypeError);
  });

  it("every single-character typo is caught", () => {
    const { code } = FIXTURES[2]!;
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    let caught = 0;
    for (let at = 4; at < code.length; at++) {
      for (const c of alphabet) {
        if (c === code[at]) continue;
        expect(() => parseShareCode(code.slice(0, at) + c + code.slice(at + 1))).toThrow(HearthError);
        caught++;
      }
    }
    expect(caught).toBe(32 * 31);
  });
});

describe.each([
  ["memory", "file"],
  ["file", "memory"],
] as const)("share-code records, %s → %s keyring", (fromKind, toKind) => {
  it("one record carries several keys, which open in order", async () => {
    const [alice, bob] = [await keyring(fromKind), await keyring(toKind)];
    const keys = [await alice.createKey("e1", { shareable: true }), await alice.createKey("e2", { shareable: true }), await alice.createKey("e3", { shareable: true })];
    const { code, id } = createShareSecret();
    const name = `key/s/${id}`;
    const record = await wrapWithSecret(alice, keys.map((k) => k.fingerprint), parseShareCode(code).secret, name);
    const received = await unwrapWithSecret(bob, record, parseShareCode(code).secret, name, "by code");
    expect(received.map((k) => k.fingerprint)).toEqual(keys.map((k) => k.fingerprint));
    for (const [i, key] of keys.entries()) await expectSameKey(key, received[i]!);
    expect(await bob.listKeys()).toEqual(keys.map((k) => k.fingerprint).sort());
  });
});

describe("share-code records", () => {
  async function setup(): Promise<{ alice: Keyring; bob: Keyring; keys: DataKey[]; secret: Uint8Array; record: Uint8Array }> {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const keys = [await alice.createKey(undefined, { shareable: true }), await alice.createKey(undefined, { shareable: true })];
    const { secret } = createShareSecret();
    const record = await wrapWithSecret(alice, keys.map((k) => k.fingerprint), secret, CONTEXT);
    return { alice, bob, keys, secret, record };
  }

  it("another secret or another context is INTEGRITY", async () => {
    const { bob, secret, record } = await setup();
    await expectCode(unwrapWithSecret(bob, record, createShareSecret().secret, CONTEXT), "INTEGRITY");
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
      kind: (m) => (m.kind = "passphrase"),
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
    const { secret } = createShareSecret();
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

describe("passphrase records", () => {
  it("the right passphrase opens every key; a wrong one is KEY_REQUIRED", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("file")];
    const keys = [await alice.createKey(undefined, { shareable: true }), await alice.createKey(undefined, { shareable: true })];
    const record = await wrapWithPassphrase(alice, keys.map((k) => k.fingerprint), "correct horse battery staple", CONTEXT, FAST);
    await expectCode(unwrapWithPassphrase(bob, record, "correct horse battery stapler", CONTEXT), "KEY_REQUIRED");
    await expectCode(unwrapWithPassphrase(bob, record, "Correct horse battery staple", CONTEXT), "KEY_REQUIRED");
    expect(await bob.listKeys()).toEqual([]);
    const received = await unwrapWithPassphrase(bob, record, "correct horse battery staple", CONTEXT, "by passphrase");
    for (const [i, key] of keys.entries()) await expectSameKey(key, received[i]!);
  });

  it("the passphrase is compared after Unicode normalisation", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapWithPassphrase(alice, [key.fingerprint], "caf\u00e9 cr\u00e8me", CONTEXT, FAST);
    expect((await unwrapWithPassphrase(bob, record, "cafe\u0301 cre\u0300me", CONTEXT))[0]!.fingerprint).toBe(key.fingerprint);
  });

  it("uses 600,000 rounds unless told otherwise", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapWithPassphrase(alice, [key.fingerprint], "slow but sure", CONTEXT);
    expect(DEFAULT_PASSPHRASE_ITERATIONS).toBe(600_000);
    expect(describeKeyRecord(record).iterations).toBe(600_000);
    expect((await unwrapWithPassphrase(bob, record, "slow but sure", CONTEXT))[0]!.fingerprint).toBe(key.fingerprint);
  });

  it("records asking for fewer than 10,000 rounds (or absurdly many) are refused", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    for (const iterations of [1, 1000, 9_999, 10_000_001, 10.5]) {
      await expectCode(wrapWithPassphrase(alice, [key.fingerprint], "pw", CONTEXT, { iterations }), "INVALID_ARGUMENT");
    }
    expect(await outcome(wrapWithPassphrase(alice, [key.fingerprint], "pw", CONTEXT, { iterations: "many" as unknown as number }))).toBe("TypeError");
    const record = await wrapWithPassphrase(alice, [key.fingerprint], "pw", CONTEXT, FAST);
    for (const iterations of [1, 9_999, 20_000_000, -5]) {
      await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => (m.iterations = iterations)), "pw", CONTEXT), "INTEGRITY");
    }
    // Within range but changed: indistinguishable from a wrong passphrase, and reported as one.
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => (m.iterations = 10_001)), "pw", CONTEXT), "KEY_REQUIRED");
    expect(await bob.listKeys()).toEqual([]);
  });

  it("another context or altered ciphertext is INTEGRITY; altered salt or check reads as a wrong passphrase", async () => {
    const [alice, bob] = [await keyring("memory"), await keyring("memory")];
    const key = await alice.createKey(undefined, { shareable: true });
    const record = await wrapWithPassphrase(alice, [key.fingerprint], "pw", CONTEXT, FAST);
    type Entry = { fp: string; iv: Uint8Array; ct: Uint8Array };
    await expectCode(unwrapWithPassphrase(bob, record, "pw", "key/p/other"), "INTEGRITY");
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => ((m.keys as Entry[])[0]!.ct = flip((m.keys as Entry[])[0]!.ct, 1))), "pw", CONTEXT), "INTEGRITY");
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => ((m.keys as Entry[])[0]!.iv = flip((m.keys as Entry[])[0]!.iv, 1))), "pw", CONTEXT), "INTEGRITY");
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => (m.check = flip(m.check as Uint8Array, 1))), "pw", CONTEXT), "KEY_REQUIRED");
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => (m.salt = flip(m.salt as Uint8Array, 1))), "pw", CONTEXT), "KEY_REQUIRED");
    await expectCode(unwrapWithPassphrase(bob, tamper(record, (m) => delete m.check), "pw", CONTEXT), "INTEGRITY");
    const { secret } = createShareSecret();
    await expectCode(unwrapWithPassphrase(bob, await wrapWithSecret(alice, [key.fingerprint], secret, CONTEXT), "pw", CONTEXT), "INTEGRITY");
    expect(await bob.listKeys()).toEqual([]);
  });

  it("an empty passphrase is INVALID_ARGUMENT; a non-string is a TypeError", async () => {
    const alice = await keyring("memory");
    const key = await alice.createKey(undefined, { shareable: true });
    await expectCode(wrapWithPassphrase(alice, [key.fingerprint], "", CONTEXT, FAST), "INVALID_ARGUMENT");
    expect(await outcome(wrapWithPassphrase(alice, [key.fingerprint], 1234 as unknown as string, CONTEXT, FAST))).toBe("TypeError");
    const record = await wrapWithPassphrase(alice, [key.fingerprint], "pw", CONTEXT, FAST);
    expect(await outcome(unwrapWithPassphrase(alice, record, undefined as unknown as string, CONTEXT))).toBe("TypeError");
  });
});

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** A device's key-agreement (ECDH) key as key records name it: printable, and its fingerprint. */
function agreementOf(identity: DeviceIdentity): { publicKey: string; fingerprint: string } {
  return { publicKey: toBase64Url(identity.agreementPublicKey), fingerprint: publicKeyFingerprint(identity.agreementPublicKey) };
}
