import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HEADER_BYTES } from "../src/crypto/envelope.js";
import { HearthError } from "../src/errors.js";
import { openFileKeyring } from "../src/keyring/file.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import type { Keyring } from "../src/keyring/types.js";
import { KEY_RECORD_NAME, openEncryptedStore, type EncryptedStore } from "../src/store/encrypted.js";
import { openFileStore } from "../src/store/file.js";
import { openMemoryStore } from "../src/store/memory.js";
import type { ByteStore } from "../src/store/types.js";
import { storeConformance } from "../src/testing/store-suite.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
let counter = 0;
const freshUrl = (): string => `memory://encrypted-test-${process.pid}-${counter++}`;

async function expectCode(promise: Promise<unknown>, code: string): Promise<HearthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HearthError);
  expect((err as HearthError).code).toBe(code);
  return err as HearthError;
}

/** A new encrypted store over a fresh memory store, plus the raw inner handle for tampering. */
async function setup(keyring?: Keyring): Promise<{ store: EncryptedStore; inner: ByteStore; keyring: Keyring; url: string }> {
  const url = freshUrl();
  const ring = keyring ?? (await openMemoryKeyring());
  const inner = await openMemoryStore(url);
  return { store: await openEncryptedStore(inner, ring), inner: await openMemoryStore(url), keyring: ring, url };
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe("store conformance through the encryption layer", () => {
  for (const c of storeConformance({
    label: "encrypted(memory)",
    open: async () => {
      const url = freshUrl();
      const keyring = await openMemoryKeyring();
      return {
        store: await openEncryptedStore(await openMemoryStore(url), keyring),
        reopen: async () => openEncryptedStore(await openMemoryStore(url), keyring),
      };
    },
  })) {
    it(c.name, c.run);
  }
});

describe("store conformance through the encryption layer over files", () => {
  // Persistent, so the suite's reopen cases also check that the key record
  // and the file keyring bring the same data key back.
  const root = mkdtempSync(join(tmpdir(), "hearth-encrypted-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  for (const c of storeConformance({
    label: "encrypted(file)",
    open: async () => {
      const dir = join(root, `case-${n++}`);
      const keyring = await openFileKeyring(join(dir, "keyring"));
      const storeDir = join(dir, "store");
      return {
        store: await openEncryptedStore(await openFileStore(storeDir), keyring),
        reopen: async () => openEncryptedStore(await openFileStore(storeDir), await openFileKeyring(join(dir, "keyring"))),
      };
    },
  })) {
    it(c.name, c.run);
  }
});

describe("encrypted store", () => {
  it("stores no plaintext in the inner store, only the key fingerprint in its record", async () => {
    const { store, inner } = await setup();
    const secret = utf8("the launch code is 0000-secret");
    await store.write({ put: [["doc/1", secret]] });
    const raw = await inner.get("doc/1");
    expect(raw).toBeDefined();
    expect(containsBytes(raw!, utf8("secret"))).toBe(false);
    expect(raw!.length).toBeGreaterThan(secret.length);
    const record = new TextDecoder().decode(await inner.get(KEY_RECORD_NAME));
    expect(JSON.parse(record)).toEqual({ version: 1, fingerprint: store.keyFingerprint });
    await store.close();
  });

  it("passes url and supports through and names its data key", async () => {
    const { store, inner, keyring } = await setup();
    expect(store.url).toBe(inner.url);
    expect(store.supports).toEqual(inner.supports);
    expect(await keyring.listKeys()).toEqual([store.keyFingerprint]);
    await store.close();
  });

  it("passes windDown on to the inner store, and does without one that has none", async () => {
    const url = `memory://enc-wind-${Math.random()}`;
    const inner = await openMemoryStore(url);
    const keyring = await openMemoryKeyring(`memory://enc-wind-ring-${Math.random()}`);
    const bare = await openEncryptedStore(inner, keyring);
    expect(() => bare.windDown()).not.toThrow();
    await bare.close();
    let calls = 0;
    const winding = await openEncryptedStore(Object.assign(await openMemoryStore(url), { windDown: () => void calls++ }), keyring);
    winding.windDown();
    expect(calls).toBe(1);
    await winding.close();
  });

  it("hides the key record from list and refuses it as a key", async () => {
    const { store } = await setup();
    await store.write({ put: [["a", utf8("1")]] });
    expect(await store.list("")).toEqual(["a"]);
    expect(await store.list("~")).toEqual([]);
    await expect(store.write({ put: [[KEY_RECORD_NAME, utf8("x")]] })).rejects.toBeInstanceOf(TypeError);
    await expect(store.write({ del: [KEY_RECORD_NAME] })).rejects.toBeInstanceOf(TypeError);
    await expect(store.get(KEY_RECORD_NAME)).rejects.toBeInstanceOf(TypeError);
    await store.close();
  });

  it("reopens with the same keyring and reads what it wrote", async () => {
    const { store, keyring, url } = await setup();
    await store.write({ put: [["k", utf8("v")]] });
    await store.close();
    const again = await openEncryptedStore(await openMemoryStore(url), keyring);
    expect(again.keyFingerprint).toBe(store.keyFingerprint);
    expect(await again.get("k")).toEqual(utf8("v"));
    await again.destroy();
  });

  it("opening with a keyring that lacks the store's key is KEY_REQUIRED naming key, store and remedy", async () => {
    const { store, url } = await setup();
    await store.write({ put: [["k", utf8("v")]] });
    await store.close();
    const stranger = await openMemoryKeyring();
    const err = await expectCode(openEncryptedStore(await openMemoryStore(url), stranger), "KEY_REQUIRED");
    expect(err.message).toContain(store.keyFingerprint);
    expect(err.message).toContain(url);
    expect(err.message).toContain("import");
    expect(await stranger.listKeys()).toEqual([]);
  });

  it("a value sealed with a key the keyring lacks is KEY_REQUIRED, and readable with a keyring that holds it", async () => {
    const { store, inner } = await setup();
    const other = await setup();
    await other.store.write({ put: [["moved", utf8("from elsewhere")]] });
    const foreign = (await other.inner.get("moved"))!;
    // Same name on both sides, so only the key differs.
    await inner.write({ put: [["moved", foreign]] });
    const err = await expectCode(store.get("moved"), "KEY_REQUIRED");
    expect(err.message).toContain(other.store.keyFingerprint);
    // A store whose own key differs but whose keyring holds the value's key
    // (as after a rotation or an invite) reads it: envelopes name their key.
    const sharing = await setup(other.keyring);
    expect(sharing.store.keyFingerprint).not.toBe(other.store.keyFingerprint);
    await sharing.inner.write({ put: [["moved", foreign]] });
    expect(await sharing.store.get("moved")).toEqual(utf8("from elsewhere"));
    await Promise.all([store.close(), other.store.close(), sharing.store.close()]);
  });

  it("flipping any one byte of a stored value is INTEGRITY", async () => {
    const { store, inner } = await setup();
    await store.write({ put: [["v", utf8("some value worth protecting")]] });
    const original = (await inner.get("v"))!;
    for (let at = 0; at < original.length; at++) {
      const tampered = original.slice();
      tampered[at]! ^= 0x01;
      await inner.write({ put: [["v", tampered]] });
      await expectCode(store.get("v"), "INTEGRITY");
    }
    await inner.write({ put: [["v", original]] });
    expect(await store.get("v")).toEqual(utf8("some value worth protecting"));
    await store.close();
  });

  it("truncated values are INTEGRITY", async () => {
    const { store, inner } = await setup();
    await store.write({ put: [["v", utf8("truncate me")]] });
    const original = (await inner.get("v"))!;
    for (const length of [0, 1, HEADER_BYTES, original.length - 1]) {
      await inner.write({ put: [["v", original.slice(0, length)]] });
      await expectCode(store.get("v"), "INTEGRITY");
    }
    await store.close();
  });

  it("values swapped between names are INTEGRITY", async () => {
    const { store, inner } = await setup();
    await store.write({ put: [["balance/alice", utf8("100")], ["balance/bob", utf8("999999")]] });
    const [alice, bob] = [(await inner.get("balance/alice"))!, (await inner.get("balance/bob"))!];
    await inner.write({ put: [["balance/alice", bob], ["balance/bob", alice]] });
    await expectCode(store.get("balance/alice"), "INTEGRITY");
    await expectCode(store.get("balance/bob"), "INTEGRITY");
    await store.close();
  });

  it("a new store with create: false is NOT_FOUND and creates no key", async () => {
    const keyring = await openMemoryKeyring();
    await expectCode(openEncryptedStore(await openMemoryStore(freshUrl()), keyring, { create: false }), "NOT_FOUND");
    expect(await keyring.listKeys()).toEqual([]);
  });

  it("a non-empty store without a key record is INTEGRITY, not silently adopted", async () => {
    const inner = await openMemoryStore(freshUrl());
    await inner.write({ put: [["plain", utf8("not encrypted")]] });
    await expectCode(openEncryptedStore(inner, await openMemoryKeyring()), "INTEGRITY");
    await inner.destroy();
  });

  it("a damaged key record is INTEGRITY", async () => {
    const { store, inner, keyring, url } = await setup();
    await store.close();
    await inner.write({ put: [[KEY_RECORD_NAME, utf8("{garbage")]] });
    await expectCode(openEncryptedStore(await openMemoryStore(url), keyring), "INTEGRITY");
    await inner.write({ put: [[KEY_RECORD_NAME, utf8('{"version":1,"fingerprint":"../x"}')]] });
    await expectCode(openEncryptedStore(await openMemoryStore(url), keyring), "INTEGRITY");
    await inner.destroy();
  });

  it("close waits for writes still being encrypted", async () => {
    const { store, inner } = await setup();
    const writes = Array.from({ length: 20 }, (_, i) => store.write({ put: [[`w/${i}`, new Uint8Array(64 * 1024)]] }));
    await store.close();
    await Promise.all(writes);
    expect((await inner.list("w/")).length).toBe(20);
  });
});
