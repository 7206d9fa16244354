/**
 * The keyring conformance suite. Every {@link Keyring} — memory, file,
 * IndexedDB — must pass every case. Run it under vitest with
 * `for (const c of keyringConformance(f)) it(c.name, c.run)`, or in a
 * browser page by awaiting each `run()`.
 *
 * @module
 */
import { publicKeyFingerprint } from "../crypto/wrap-record.js";
import { webCryptoSigner } from "../crypto/signing.js";
import { fromBase64Url } from "../crypto/encoding.js";
import { seal, unseal } from "../crypto/envelope.js";
import { fingerprintOf, isFingerprint } from "../crypto/fingerprint.js";
import { importDataKey } from "../crypto/data-key.js";
import { SECRET_BYTES, unwrapFromDevice, unwrapWithSecret, wrapForDevice, wrapWithSecret } from "../crypto/wrap.js";
import { openMemoryKeyring } from "../keyring/memory.js";
import type { DataKey, Fingerprint, Keyring } from "../keyring/types.js";
import { check, checkEqual, checkRejects, utf8, type TestCase } from "./harness.js";

/** Opens a keyring for one test case. */
export interface KeyringFactory {
  /** Short label used in case names ("memory", "file", …). */
  readonly label: string;
  /**
   * A fresh, empty keyring on storage no other call shares. `reopen` opens
   * another keyring object on the same storage, whether or not the first is
   * still open; `cleanup` (optional) removes the storage afterwards.
   */
  open(): Promise<{ keyring: Keyring; reopen: () => Promise<Keyring>; cleanup?: () => Promise<void> }>;
}

/** The conformance cases for `factory`. */
export function keyringConformance(factory: KeyringFactory): TestCase[] {
  const cases: TestCase[] = [];
  const add = (name: string, run: (keyring: Keyring, reopen: () => Promise<Keyring>) => Promise<void>): void => {
    cases.push({
      name: `${factory.label}: ${name}`,
      run: async () => {
        const { keyring, reopen, cleanup } = await factory.open();
        const opened: Keyring[] = [keyring];
        const trackedReopen = async (): Promise<Keyring> => {
          const again = await reopen();
          opened.push(again);
          return again;
        };
        try {
          await run(keyring, trackedReopen);
        } finally {
          for (const k of opened) await k.close().catch(() => undefined);
          await cleanup?.();
        }
      },
    });
  };

  add("identity is two P-256 public keys with their fingerprint and a usable ECDH private key", async (k) => {
    const me = await k.identity();
    const points = fromBase64Url(me.publicKey);
    checkEqual(points.length, 130, "two uncompressed P-256 points");
    checkEqual(points.subarray(0, 65), me.agreementPublicKey, "the ECDH point comes first");
    checkEqual(points.subarray(65), me.signingPublicKey, "the signing point second");
    checkEqual(points[0], 4, "uncompressed point prefix");
    checkEqual(me.fingerprint, await fingerprintOf(points), "identity fingerprint");
    check(!me.privateKey.extractable, "private key is non-extractable");
    const peer = await globalThis.crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const secret = await globalThis.crypto.subtle.deriveBits({ name: "ECDH", public: peer.publicKey }, me.privateKey, 256);
    checkEqual(secret.byteLength, 32, "ECDH shared secret");
  });

  add("identity signs: a non-extractable ECDSA P-256 key whose signatures its public key verifies", async (k) => {
    const me = await k.identity();
    check(!me.signingKey.extractable, "signing key is non-extractable");
    checkEqual(me.signingPublicKey.length, 65, "raw signing public key length");
    checkEqual(me.signingPublicKey[0], 4, "uncompressed point prefix");
    const message = utf8("hearth: signed by this device");
    const signature = await webCryptoSigner.sign(me.signingKey, message);
    checkEqual(signature.length, 64, "P1363 signature length");
    check(await webCryptoSigner.verify(me.signingPublicKey, signature, message), "its public key verifies its signature");
    check(!(await webCryptoSigner.verify(me.signingPublicKey, signature, utf8("another message"))), "not over another message");
  });

  add("identity is stable across calls, concurrent first calls and reopen", async (k, reopen) => {
    const [a, b] = await Promise.all([k.identity(), k.identity()]);
    checkEqual(b.publicKey, a.publicKey, "concurrent first calls agree");
    checkEqual(b.signingPublicKey, a.signingPublicKey, "concurrent first calls agree on the signing key");
    checkEqual((await k.identity()).publicKey, a.publicKey, "second call");
    await k.close();
    const again = await reopen();
    const c = await again.identity();
    checkEqual(c.publicKey, a.publicKey, "identity after reopen");
    checkEqual(c.fingerprint, a.fingerprint, "fingerprint after reopen");
    checkEqual(c.signingPublicKey, a.signingPublicKey, "signing key after reopen");
    const message = utf8("signed before, verified after");
    check(await webCryptoSigner.verify(a.signingPublicKey, await webCryptoSigner.sign(c.signingKey, message), message), "the reopened signing key is the same");
  });

  add("two keyring objects racing for a new identity agree on one", async (k, reopen) => {
    const other = await reopen();
    const [a, b] = await Promise.all([k.identity(), other.identity()]);
    checkEqual(b.publicKey, a.publicKey);
    checkEqual(b.signingPublicKey, a.signingPublicKey);
  });

  add("createKey returns a fresh usable key that getKey finds", async (k) => {
    const one = await k.createKey("one");
    const two = await k.createKey();
    check(isFingerprint(one.fingerprint), `fingerprint shape: ${one.fingerprint}`);
    check(one.fingerprint !== two.fingerprint, "two created keys differ");
    const found = await k.getKey(one.fingerprint);
    check(found !== undefined, "getKey finds the created key");
    checkEqual(found.fingerprint, one.fingerprint);
    const sealed = await seal(one, utf8("secret"), utf8("aad"));
    checkEqual(await unseal(found, sealed, utf8("aad")), utf8("secret"), "found key opens what the created key sealed");
  });

  add("importKey is idempotent and names the key by its fingerprint", async (k) => {
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const first = await k.importKey(raw, "shared");
    const second = await k.importKey(raw.slice(), "other label");
    checkEqual(first.fingerprint, await fingerprintOf(raw), "fingerprint of the raw key");
    checkEqual(second.fingerprint, first.fingerprint, "importing twice gives the same key");
    checkEqual(await k.listKeys(), [first.fingerprint], "imported once");
    const elsewhere = await importDataKey(raw);
    const sealed = await seal(elsewhere, utf8("hello"));
    const found = await k.getKey(first.fingerprint);
    check(found !== undefined, "getKey finds the imported key");
    checkEqual(await unseal(found, sealed), utf8("hello"), "the imported key is the same key");
  });

  add("importKey of anything but 32 bytes is a TypeError", async (k) => {
    await checkRejects(async () => k.importKey(new Uint8Array(16)), "TypeError");
    await checkRejects(async () => k.importKey("x".repeat(32) as unknown as Uint8Array), "TypeError");
    checkEqual(await k.listKeys(), []);
  });

  add("listKeys lists every key once, sorted", async (k) => {
    checkEqual(await k.listKeys(), [], "a fresh keyring is empty");
    const created = await Promise.all([k.createKey(), k.createKey(), k.createKey()]);
    const imported = await k.importKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    const expected = [...created.map((d) => d.fingerprint), imported.fingerprint].sort();
    checkEqual(await k.listKeys(), expected);
  });

  add("getKey of an unknown fingerprint is undefined; a malformed one is a TypeError", async (k) => {
    checkEqual(await k.getKey("0".repeat(32) as Fingerprint), undefined);
    await checkRejects(async () => k.getKey("../identity" as Fingerprint), "TypeError");
  });

  add("keys survive close and reopen", async (k, reopen) => {
    const key = await k.createKey("kept");
    await k.close();
    const again = await reopen();
    checkEqual(await again.listKeys(), [key.fingerprint]);
    check((await again.getKey(key.fingerprint)) !== undefined, "key found after reopen");
  });

  add("two keyring objects on the same storage see each other's keys", async (k, reopen) => {
    const other = await reopen();
    const mine = await k.createKey();
    const theirs = await other.importKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    check((await other.getKey(mine.fingerprint)) !== undefined, "other sees a key created here");
    check((await k.getKey(theirs.fingerprint)) !== undefined, "this sees a key imported there");
    checkEqual(await k.listKeys(), [mine.fingerprint, theirs.fingerprint].sort());
    checkEqual(await other.listKeys(), [mine.fingerprint, theirs.fingerprint].sort());
  });

  add("concurrent createKey on two objects loses no key", async (k, reopen) => {
    const other = await reopen();
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? k : other).createKey(`k${i}`)));
    checkEqual(await k.listKeys(), made.map((d) => d.fingerprint).sort());
  });

  add("calls after close reject with STORE_CLOSED; close is idempotent", async (k) => {
    const key = await k.createKey();
    await k.close();
    await k.close();
    await checkRejects(k.identity(), "STORE_CLOSED");
    await checkRejects(k.getKey(key.fingerprint), "STORE_CLOSED");
    await checkRejects(k.createKey(), "STORE_CLOSED");
    await checkRejects(k.importKey(new Uint8Array(32)), "STORE_CLOSED");
    await checkRejects(k.listKeys(), "STORE_CLOSED");
    const { kek, iv, ad } = await wrapParams();
    await checkRejects(k.wrapKey(key.fingerprint, kek, iv, ad), "STORE_CLOSED");
    await checkRejects(k.unwrapKey(new Uint8Array(48), kek, iv, ad), "STORE_CLOSED");
  });

  add("a shareable key wrapped here unwraps into another keyring of this kind as the same key", async (k) => {
    const other = await factory.open();
    try {
      const key = await k.createKey("point", { shareable: true });
      const { kek, iv, ad } = await wrapParams();
      const wrapped = await k.wrapKey(key.fingerprint, kek, iv, ad);
      checkEqual(wrapped.length, 48, "32 key bytes and a 16-byte tag");
      const received = await other.keyring.unwrapKey(wrapped, kek, iv, ad, "received");
      checkEqual(received.fingerprint, key.fingerprint, "same fingerprint");
      check(!key.key.extractable && !received.key.extractable, "DataKeys of shareable keys stay non-extractable");
      check(!(await k.getKey(key.fingerprint))!.key.extractable, "getKey of a shareable key is non-extractable");
      checkEqual(await other.keyring.listKeys(), [key.fingerprint], "stored in the receiving keyring");
      await checkOpensEachOther(key, received);
      // Received keys are shareable: the receiver can pass them on.
      const again = await wrapParams();
      check((await other.keyring.wrapKey(key.fingerprint, again.kek, again.iv, again.ad)).length === 48, "receiver can rewrap");
    } finally {
      await other.keyring.close().catch(() => undefined);
      await other.cleanup?.();
    }
  });

  add("wraps are byte-identical to a memory keyring's and move between them both ways", async (k) => {
    const memory = await openMemoryKeyring();
    try {
      const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const here = await k.importKey(raw, "here", { shareable: true });
      const there = await memory.importKey(raw.slice(), "there", { shareable: true });
      const { kek, iv, ad } = await wrapParams();
      const fromHere = await k.wrapKey(here.fingerprint, kek, iv, ad);
      checkEqual(fromHere, await memory.wrapKey(there.fingerprint, kek, iv, ad), "same wrap from both keyrings");
      const plain = await globalThis.crypto.subtle.importKey("raw", raw, "AES-GCM", true, ["encrypt"]);
      const reference = new Uint8Array(await globalThis.crypto.subtle.wrapKey("raw", plain, kek, { name: "AES-GCM", iv, additionalData: ad }));
      checkEqual(fromHere, reference, "plain AES-GCM of the raw bytes");

      const made = await memory.createKey("made in memory", { shareable: true });
      const p = await wrapParams();
      const received = await k.unwrapKey(await memory.wrapKey(made.fingerprint, p.kek, p.iv, p.ad), p.kek, p.iv, p.ad);
      checkEqual(received.fingerprint, made.fingerprint, "memory → here");
      await checkOpensEachOther(made, received);
    } finally {
      await memory.close();
    }
  });

  add("local keys are not shareable: wrapKey refuses them with INVALID_ARGUMENT", async (k) => {
    const { kek, iv, ad } = await wrapParams();
    const local = await k.createKey("local");
    const explicit = await k.createKey("local too", { shareable: false });
    const imported = await k.importKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    for (const key of [local, explicit, imported]) await checkRejects(k.wrapKey(key.fingerprint, kek, iv, ad), "INVALID_ARGUMENT");
  });

  add("wrapKey of a key this keyring lacks is KEY_REQUIRED", async (k) => {
    const { kek, iv, ad } = await wrapParams();
    await checkRejects(k.wrapKey("0".repeat(32) as Fingerprint, kek, iv, ad), "KEY_REQUIRED");
  });

  add("unwrapKey with a wrong key, IV or additional data, or tampered bytes, is INTEGRITY and stores nothing", async (k) => {
    const source = await openMemoryKeyring();
    try {
      const key = await source.createKey(undefined, { shareable: true });
      const { kek, iv, ad } = await wrapParams();
      const wrapped = await source.wrapKey(key.fingerprint, kek, iv, ad);
      const wrong = await wrapParams();
      await checkRejects(k.unwrapKey(wrapped, wrong.kek, iv, ad), "INTEGRITY");
      await checkRejects(k.unwrapKey(wrapped, kek, wrong.iv, ad), "INTEGRITY");
      await checkRejects(k.unwrapKey(wrapped, kek, iv, utf8("another record")), "INTEGRITY");
      for (const at of [0, 31, 32, 47]) {
        const tampered = wrapped.slice();
        tampered[at]! ^= 1;
        await checkRejects(k.unwrapKey(tampered, kek, iv, ad), "INTEGRITY");
      }
      await checkRejects(k.unwrapKey(wrapped.subarray(0, 40), kek, iv, ad), "INTEGRITY");
      await checkRejects(k.unwrapKey(new Uint8Array(0), kek, iv, ad), "INTEGRITY");
      checkEqual(await k.listKeys(), [], "nothing stored");
      checkEqual((await k.unwrapKey(wrapped, kek, iv, ad)).fingerprint, key.fingerprint, "the untampered wrap still opens");
    } finally {
      await source.close();
    }
  });

  add("unwrapKey refuses a wrapped key that is not 32 bytes (INTEGRITY)", async (k) => {
    const { kek, iv, ad } = await wrapParams();
    const short = await globalThis.crypto.subtle.importKey("raw", new Uint8Array(16).fill(7), "AES-GCM", true, ["encrypt"]);
    const wrapped = new Uint8Array(await globalThis.crypto.subtle.wrapKey("raw", short, kek, { name: "AES-GCM", iv, additionalData: ad }));
    await checkRejects(k.unwrapKey(wrapped, kek, iv, ad), "INTEGRITY");
    checkEqual(await k.listKeys(), []);
  });

  add("the shareable flag survives close and reopen, and local keys stay local", async (k, reopen) => {
    const shared = await k.createKey("point", { shareable: true });
    const local = await k.createKey("local");
    const importedRaw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const imported = await k.importKey(importedRaw, "imported", { shareable: true });
    await k.close();
    const again = await reopen();
    const { kek, iv, ad } = await wrapParams();
    check((await again.wrapKey(shared.fingerprint, kek, iv, ad)).length === 48, "created shareable key wraps after reopen");
    const p = await wrapParams();
    const wrapped = await again.wrapKey(imported.fingerprint, p.kek, p.iv, p.ad);
    const elsewhere = await openMemoryKeyring();
    try {
      checkEqual((await elsewhere.unwrapKey(wrapped, p.kek, p.iv, p.ad)).fingerprint, await fingerprintOf(importedRaw), "imported shareable key");
    } finally {
      await elsewhere.close();
    }
    await checkRejects(again.wrapKey(local.fingerprint, kek, iv, ad), "INVALID_ARGUMENT");
  });

  add("importing or unwrapping a held local key makes it shareable; nothing makes it local again", async (k, reopen) => {
    const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const local = await k.importKey(raw, "first");
    const { kek, iv, ad } = await wrapParams();
    await checkRejects(k.wrapKey(local.fingerprint, kek, iv, ad), "INVALID_ARGUMENT");
    checkEqual((await k.importKey(raw.slice(), "second", { shareable: true })).fingerprint, local.fingerprint);
    check((await k.wrapKey(local.fingerprint, kek, iv, ad)).length === 48, "upgraded by importKey");
    await k.importKey(raw.slice()); // a later local import does not downgrade
    const other = await reopen();
    check((await other.wrapKey(local.fingerprint, kek, iv, ad)).length === 48, "still shareable on another object");

    // unwrapKey upgrades too, and is idempotent.
    const raw2 = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const local2 = await k.importKey(raw2);
    const source = await openMemoryKeyring();
    try {
      await source.importKey(raw2.slice(), undefined, { shareable: true });
      const p = await wrapParams();
      const wrapped = await source.wrapKey(local2.fingerprint, p.kek, p.iv, p.ad);
      checkEqual((await k.unwrapKey(wrapped, p.kek, p.iv, p.ad)).fingerprint, local2.fingerprint);
      checkEqual((await k.unwrapKey(wrapped, p.kek, p.iv, p.ad)).fingerprint, local2.fingerprint, "unwrapping twice");
      check((await k.wrapKey(local2.fingerprint, kek, iv, ad)).length === 48, "upgraded by unwrapKey");
      checkEqual(await k.listKeys(), [local.fingerprint, local2.fingerprint].sort(), "no duplicates");
    } finally {
      await source.close();
    }
  });

  add("malformed wrap arguments and key options are TypeErrors", async (k) => {
    const key = await k.createKey(undefined, { shareable: true });
    const { kek, iv, ad } = await wrapParams();
    const encryptOnly = await globalThis.crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    await checkRejects(async () => k.wrapKey(key.fingerprint, encryptOnly, iv, ad), "TypeError");
    await checkRejects(async () => k.wrapKey(key.fingerprint, "kek" as unknown as CryptoKey, iv, ad), "TypeError");
    await checkRejects(async () => k.wrapKey(key.fingerprint, kek, new Uint8Array(16), ad), "TypeError");
    await checkRejects(async () => k.wrapKey(key.fingerprint, kek, iv, "ad" as unknown as Uint8Array), "TypeError");
    await checkRejects(async () => k.wrapKey("nope" as Fingerprint, kek, iv, ad), "TypeError");
    const wrapped = await k.wrapKey(key.fingerprint, kek, iv, ad);
    await checkRejects(async () => k.unwrapKey(wrapped, encryptOnly, iv, ad), "TypeError");
    await checkRejects(async () => k.unwrapKey([...wrapped] as unknown as Uint8Array, kek, iv, ad), "TypeError");
    await checkRejects(async () => k.unwrapKey(wrapped, kek, iv, ad, 7 as unknown as string), "TypeError");
    await checkRejects(async () => k.createKey(undefined, { shareable: "yes" as unknown as boolean }), "TypeError");
    await checkRejects(async () => k.importKey(new Uint8Array(32), undefined, 1 as unknown as { shareable: boolean }), "TypeError");
  });

  add("device and secret records made here open in a memory keyring, and back", async (k) => {
    const memory = await openMemoryKeyring();
    try {
      const mine = await k.createKey("point", { shareable: true });
      const theirs = await memory.createKey("point", { shareable: true });
      const [me, them] = [await k.identity(), await memory.identity()];

      const invite = await wrapForDevice(k, mine.fingerprint, them.publicKey, "key/d/mine");
      const received = await unwrapFromDevice(memory, invite, "key/d/mine");
      checkEqual(received.from.fingerprint, publicKeyFingerprint(me.agreementPublicKey), "authenticated wrapper");
      await checkOpensEachOther(mine, received.key);
      const back = await unwrapFromDevice(k, await wrapForDevice(memory, theirs.fingerprint, me.publicKey, "key/d/theirs"), "key/d/theirs");
      await checkOpensEachOther(theirs, back.key);
      await checkRejects(unwrapFromDevice(k, invite, "key/d/mine"), "KEY_REQUIRED");

      const secret = globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
      const shared = await unwrapWithSecret(memory, await wrapWithSecret(k, [mine.fingerprint, theirs.fingerprint], secret, "key/s/x"), secret, "key/s/x");
      checkEqual(shared.map((d) => d.fingerprint), [mine.fingerprint, theirs.fingerprint], "both keys by secret");
      const fresh = await memory.createKey(undefined, { shareable: true });
      const [opened] = await unwrapWithSecret(k, await wrapWithSecret(memory, [fresh.fingerprint], secret, "key/s/y"), secret, "key/s/y");
      await checkOpensEachOther(fresh, opened!);
    } finally {
      await memory.close();
    }
  });

  return cases;
}

/** A fresh key-encryption key, IV and additional data, as `crypto/wrap.ts` would derive them. */
async function wrapParams(): Promise<{ kek: CryptoKey; iv: Uint8Array<ArrayBuffer>; ad: Uint8Array<ArrayBuffer> }> {
  const kek = await globalThis.crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["wrapKey", "unwrapKey"]);
  return { kek, iv: globalThis.crypto.getRandomValues(new Uint8Array(12)), ad: new Uint8Array(utf8(`key/test/${globalThis.crypto.randomUUID()}`)) };
}

/** Throws unless each key opens what the other sealed. */
async function checkOpensEachOther(a: DataKey, b: DataKey): Promise<void> {
  checkEqual(await unseal(b, await seal(a, utf8("from a"))), utf8("from a"), "b opens what a sealed");
  checkEqual(await unseal(a, await seal(b, utf8("from b"))), utf8("from b"), "a opens what b sealed");
}
