/**
 * The keyring conformance suite. Every {@link Keyring} — memory, file,
 * IndexedDB — must pass every case. Run it under vitest with
 * `for (const c of keyringConformance(f)) it(c.name, c.run)`, or in a
 * browser page by awaiting each `run()`.
 *
 * @module
 */
import { fromBase64Url } from "../crypto/encoding.js";
import { seal, unseal } from "../crypto/envelope.js";
import { fingerprintOf, isFingerprint } from "../crypto/fingerprint.js";
import { importDataKey } from "../crypto/data-key.js";
import type { Fingerprint, Keyring } from "../keyring/types.js";
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

  add("identity is a P-256 public key with its fingerprint and a usable private key", async (k) => {
    const me = await k.identity();
    const point = fromBase64Url(me.publicKey);
    checkEqual(point.length, 65, "uncompressed P-256 point length");
    checkEqual(point[0], 4, "uncompressed point prefix");
    checkEqual(me.fingerprint, await fingerprintOf(point), "identity fingerprint");
    check(!me.privateKey.extractable, "private key is non-extractable");
    const peer = await globalThis.crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const secret = await globalThis.crypto.subtle.deriveBits({ name: "ECDH", public: peer.publicKey }, me.privateKey, 256);
    checkEqual(secret.byteLength, 32, "ECDH shared secret");
  });

  add("identity is stable across calls, concurrent first calls and reopen", async (k, reopen) => {
    const [a, b] = await Promise.all([k.identity(), k.identity()]);
    checkEqual(b.publicKey, a.publicKey, "concurrent first calls agree");
    checkEqual((await k.identity()).publicKey, a.publicKey, "second call");
    await k.close();
    const again = await reopen();
    const c = await again.identity();
    checkEqual(c.publicKey, a.publicKey, "identity after reopen");
    checkEqual(c.fingerprint, a.fingerprint, "fingerprint after reopen");
  });

  add("two keyring objects racing for a new identity agree on one", async (k, reopen) => {
    const other = await reopen();
    const [a, b] = await Promise.all([k.identity(), other.identity()]);
    checkEqual(b.publicKey, a.publicKey);
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
  });

  return cases;
}
