/**
 * Browser-only cases for what the conformance suites cannot say about
 * IndexedDB: keys stay non-extractable on disk, URLs are checked, one
 * holder per store (the Web Lock: `LOCKED`, `wait`), a deletion from
 * elsewhere is never blocked by an open handle, gets issued together share
 * a read transaction without mixing up answers or missing a write issued
 * before them, and a database that is not a Hearth store is refused rather
 * than misread. (Several tabs are driven
 * by `tabs.mjs`.)
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
      name: "indexeddb store: a second handle is LOCKED while the first is open, and opens once it closes",
      run: withDatabase("two-handles", async (url) => {
        const mine = await openIndexedDbStore(url);
        await mine.write({ put: [["k", utf8("v")]] });
        const err = (await checkRejects(openIndexedDbStore(url), "LOCKED")) as Error;
        check(err.message.includes("another tab or worker"), `the message says who holds it: ${err.message}`);
        check(!/delete|remove/i.test(err.message), "the message suggests deleting nothing");
        await checkRejects(openIndexedDbStore(url, { wait: { timeoutMs: 30 } }), "LOCKED");
        let opened = false;
        const waiting = openIndexedDbStore(url, { wait: true }).then((store) => {
          opened = true;
          return store;
        });
        await mine.write({ put: [["k2", utf8("v2")]] });
        check(!opened, "the waiting open is still waiting while the holder writes");
        await mine.close();
        const theirs = await waiting;
        try {
          checkEqual(await theirs.list(""), ["k", "k2"], "the next holder sees every acknowledged write");
        } finally {
          await theirs.close();
        }
      }),
    },
    {
      name: "indexeddb store: destroy holds the lock until the database is gone; after close it retakes it",
      run: withDatabase("destroy-lock", async (url) => {
        const first = await openIndexedDbStore(url);
        await first.write({ put: [["k", utf8("v")]] });
        await first.close();
        const second = await openIndexedDbStore(url);
        await checkRejects(first.destroy(), "LOCKED"); // closed: it must retake the lock, and someone holds it
        checkEqual(await second.list(""), ["k"], "the holder's data survives the refused destroy");
        const waiting = openIndexedDbStore(url, { wait: true });
        await second.destroy();
        const third = await waiting;
        try {
          checkEqual(await third.list(""), [], "the waiter opens the database after it was deleted, empty");
        } finally {
          await third.close();
        }
      }),
    },
    {
      name: "indexeddb store: a deletion from elsewhere closes this handle instead of blocking, and lets the next opener in",
      run: withDatabase("deleted-under", async (url) => {
        const mine = await openIndexedDbStore(url);
        await mine.write({ put: [["k", utf8("v")]] });
        await deleteDatabase(dbName(url));
        await checkRejects(mine.get("k"), "STORE_CLOSED");
        const fresh = await openIndexedDbStore(url);
        try {
          checkEqual(await fresh.list(""), [], "deleted database starts empty");
        } finally {
          await fresh.close();
        }
      }),
    },
    {
      name: "indexeddb store: gets issued together each get their own value, and a get issued after a write sees it",
      run: withDatabase("read-batch", async (url) => {
        const store = await openIndexedDbStore(url);
        try {
          const keys = Array.from({ length: 200 }, (_, i) => `k/${String(i).padStart(3, "0")}`);
          await store.write({ put: keys.map((k) => [k, utf8(`v-${k}`)]) });
          // Issued in one turn, plus more from inside the first one's continuation.
          const first = keys.slice(0, 100).map((k) => store.get(k));
          const rest = first[0]!.then(() => Promise.all(keys.slice(100).map((k) => store.get(k))));
          const values = [...(await Promise.all(first)), ...(await rest)];
          checkEqual(values.map((v) => new TextDecoder().decode(v)), keys.map((k) => `v-${k}`), "every get answered with its own key's value");
          checkEqual(await store.get("k/missing"), undefined, "a missing key among shared reads is undefined");
          // Same turn: a read, a write of that key, a read. The second must see the write.
          const before = store.get("k/000");
          const written = store.write({ put: [["k/000", utf8("new")]] });
          const after = store.get("k/000");
          checkEqual(new TextDecoder().decode(await before), "v-k/000", "a get issued before the write");
          await written;
          checkEqual(new TextDecoder().decode(await after), "new", "a get issued after the write sees it");
        } finally {
          await store.close();
        }
      }),
    },
    {
      name: "indexeddb store: a database that is not a Hearth store is refused with STORAGE_FAILED",
      run: withDatabase("foreign", async (url) => {
        await (await openIndexedDbKeyring(url)).close();
        await checkRejects(openIndexedDbStore(url), "STORAGE_FAILED");
        // Refused without being touched: the keyring still opens at its own version.
        await (await openIndexedDbKeyring(url)).close();
      }),
    },
    {
      name: "indexeddb store: a store of the first layout (string keys) is moved to binary keys on open, every value kept",
      run: withDatabase("layout-v1", async (url) => {
        const entries: Array<[string, string]> = [["b/2", "two"], ["a/1", "one"], ["nd/bafyrei-x", "node"], ["~keyid", "record"]];
        const v1 = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open(dbName(url), 1);
          request.onupgradeneeded = () => request.result.createObjectStore("kv");
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        await new Promise<void>((resolve, reject) => {
          const tx = v1.transaction("kv", "readwrite");
          for (const [key, value] of entries) tx.objectStore("kv").put(utf8(value), key);
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        });
        v1.close();
        const expected = new Map(entries);
        for (let round = 0; round < 2; round++) {
          const store = await openIndexedDbStore(url);
          try {
            checkEqual(await store.list(""), [...expected.keys()].sort(), `every key, in order (open ${round + 1})`);
            checkEqual(await store.list("nd/"), ["nd/bafyrei-x"], "prefix listing");
            for (const [key, value] of expected) checkEqual(new TextDecoder().decode(await store.get(key)), value, `value of ${key}`);
            if (round === 0) {
              await store.write({ put: [["a/0", utf8("zero")]], del: ["b/2"] });
              expected.set("a/0", "zero");
              expected.delete("b/2");
            }
          } finally {
            await store.close();
          }
        }
      }),
    },
  ];
}
