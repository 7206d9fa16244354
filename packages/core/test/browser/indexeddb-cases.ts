/**
 * Browser-only cases for what the conformance suites cannot say about
 * IndexedDB: keys stay non-extractable on disk, URLs are checked, another
 * tab's `destroy()` is never blocked by an open handle, and a database that
 * is not a Hearth store is refused rather than misread.
 *
 * @module
 */
import { openIndexedDbKeyring } from "../../src/keyring/indexeddb.js";
import { deleteDatabase, openIndexedDbStore } from "../../src/store/indexeddb.js";
import { check, checkEqual, checkRejects, utf8, type TestCase } from "../../src/testing/harness.js";

/** The cases; `uniqueUrl` gives each a database no other case touches. */
export function indexedDbCases(uniqueUrl: (label: string) => string): TestCase[] {
  const dbName = (url: string): string => url.slice("indexeddb://".length);
  const withDatabase = (label: string, run: (url: string) => Promise<void>) => async () => {
    const url = uniqueUrl(label);
    try {
      await run(url);
    } finally {
      await deleteDatabase(dbName(url));
    }
  };

  return [
    {
      name: "indexeddb keyring: keys and identity stay non-extractable after reopen",
      run: withDatabase("keyring-x", async (url) => {
        const first = await openIndexedDbKeyring(url);
        const created = await first.createKey();
        const imported = await first.importKey(crypto.getRandomValues(new Uint8Array(32)));
        await first.identity();
        await first.close();
        const again = await openIndexedDbKeyring(url);
        try {
          for (const fp of [created.fingerprint, imported.fingerprint]) {
            const key = await again.getKey(fp);
            check(key !== undefined, `key ${fp} found after reopen`);
            check(!key.key.extractable, "data key is non-extractable");
            const exported = await crypto.subtle.exportKey("raw", key.key).then(() => true, () => false);
            check(!exported, "WebCrypto refuses to export the data key");
          }
          check(!(await again.identity()).privateKey.extractable, "identity private key is non-extractable");
        } finally {
          await again.close();
        }
      }),
    },
    {
      name: "indexeddb: malformed URLs are INVALID_URL",
      run: async () => {
        await checkRejects(openIndexedDbStore("indexeddb://"), "INVALID_URL");
        await checkRejects(openIndexedDbStore("memory://x"), "INVALID_URL");
        await checkRejects(openIndexedDbKeyring("file:///tmp/k"), "INVALID_URL");
      },
    },
    {
      name: "indexeddb store: destroy from another handle closes this one instead of blocking",
      run: withDatabase("two-handles", async (url) => {
        const mine = await openIndexedDbStore(url);
        const theirs = await openIndexedDbStore(url);
        await mine.write({ put: [["k", utf8("v")]] });
        await theirs.destroy();
        await checkRejects(mine.get("k"), "STORE_CLOSED");
        const fresh = await openIndexedDbStore(url);
        try {
          checkEqual(await fresh.list(""), [], "destroyed database starts empty");
        } finally {
          await fresh.close();
        }
      }),
    },
    {
      name: "indexeddb store: a database that is not a Hearth store is refused with STORAGE_FAILED",
      run: withDatabase("foreign", async (url) => {
        await (await openIndexedDbKeyring(url)).close();
        await checkRejects(openIndexedDbStore(url), "STORAGE_FAILED");
      }),
    },
  ];
}
