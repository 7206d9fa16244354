/**
 * The store conformance suite. Every {@link ByteStore} — memory, file,
 * IndexedDB, and each of them again behind the encryption layer — must pass
 * every case. Run it under vitest with
 * `for (const c of storeConformance(open)) it(c.name, c.run)`, or in a
 * browser page by awaiting each `run()`.
 *
 * @module
 */
import type { ByteStore } from "../store/types.js";
import { check, checkEqual, checkRejects, utf8, type TestCase } from "./harness.js";

/**
 * Opens a store for one test case. `reopen` (if the store is persistent)
 * opens the same storage again after the first handle was closed.
 */
export interface StoreFactory {
  /** Short label used in case names ("memory", "file", …). */
  readonly label: string;
  /** A fresh, empty store. Each call must give storage no other call shares. */
  open(): Promise<{ store: ByteStore; reopen?: () => Promise<ByteStore> }>;
}

/** The conformance cases for `factory`. */
export function storeConformance(factory: StoreFactory): TestCase[] {
  const cases: TestCase[] = [];
  const add = (name: string, run: (store: ByteStore, reopen?: () => Promise<ByteStore>) => Promise<void>): void => {
    cases.push({
      name: `${factory.label}: ${name}`,
      run: async () => {
        const { store, reopen } = await factory.open();
        try {
          await run(store, reopen);
        } finally {
          await store.destroy().catch(() => undefined);
        }
      },
    });
  };

  add("get of a missing key is undefined", async (s) => {
    checkEqual(await s.get("nope"), undefined);
  });

  add("put then get returns equal bytes", async (s) => {
    await s.write({ put: [["a", utf8("alpha")]] });
    checkEqual(await s.get("a"), utf8("alpha"));
  });

  add("empty values and binary values round-trip", async (s) => {
    const bin = new Uint8Array(256).map((_, i) => i);
    await s.write({ put: [["empty", new Uint8Array(0)], ["bin", bin]] });
    checkEqual(await s.get("empty"), new Uint8Array(0));
    checkEqual(await s.get("bin"), bin);
  });

  add("large values (1 MiB) round-trip", async (s) => {
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
    await s.write({ put: [["big", big]] });
    checkEqual(await s.get("big"), big);
  });

  add("overwrite replaces the value", async (s) => {
    await s.write({ put: [["k", utf8("one")]] });
    await s.write({ put: [["k", utf8("two")]] });
    checkEqual(await s.get("k"), utf8("two"));
  });

  add("values are copied in and out", async (s) => {
    const v = utf8("abc");
    await s.write({ put: [["k", v]] });
    v[0] = 0;
    const got = await s.get("k");
    check(got !== undefined, "value present");
    checkEqual(got, utf8("abc"));
    got[0] = 0;
    checkEqual(await s.get("k"), utf8("abc"));
  });

  add("delete removes; deleting a missing key is fine", async (s) => {
    await s.write({ put: [["k", utf8("v")]] });
    await s.write({ del: ["k", "never-there"] });
    checkEqual(await s.get("k"), undefined);
    checkEqual(await s.list(""), []);
  });

  add("a batch applies deletes before puts", async (s) => {
    await s.write({ put: [["x", utf8("old")]] });
    await s.write({ del: ["x"], put: [["x", utf8("new")]] });
    checkEqual(await s.get("x"), utf8("new"));
  });

  add("list returns keys with the prefix in ascending order", async (s) => {
    const keys = ["b/2", "a/1", "b/10", "b/1", "c", "b/", "ba"];
    await s.write({ put: keys.map((k) => [k, utf8(k)] as const) });
    checkEqual(await s.list("b/"), ["b/", "b/1", "b/10", "b/2"]);
    checkEqual(await s.list(""), [...keys].sort());
    checkEqual(await s.list("zzz"), []);
  });

  add("list reflects deletes and overwrites", async (s) => {
    await s.write({ put: [["p/a", utf8("1")], ["p/b", utf8("2")]] });
    await s.write({ del: ["p/a"], put: [["p/b", utf8("3")], ["p/c", utf8("4")]] });
    checkEqual(await s.list("p/"), ["p/b", "p/c"]);
  });

  add("many keys in one batch", async (s) => {
    const put = Array.from({ length: 2000 }, (_, i) => [`m/${String(i).padStart(5, "0")}`, utf8(String(i))] as const);
    await s.write({ put });
    checkEqual((await s.list("m/")).length, 2000);
    checkEqual(await s.get("m/01234"), utf8("1234"));
  });

  add("concurrent writes all land", async (s) => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.write({ put: [[`c/${i}`, utf8(String(i))]] })));
    checkEqual((await s.list("c/")).length, 50);
  });

  add("invalid keys are a TypeError and write nothing", async (s) => {
    await checkRejects(async () => s.write({ put: [["ok", utf8("1")], ["has space", utf8("2")]] }), "TypeError");
    await checkRejects(async () => s.write({ put: [["", utf8("2")]] }), "TypeError");
    await checkRejects(async () => s.get("x".repeat(513)), "TypeError");
    checkEqual(await s.get("ok"), undefined);
  });

  add("fsync durability is accepted", async (s) => {
    await s.write({ put: [["f", utf8("1")]] }, { durability: "fsync" });
    checkEqual(await s.get("f"), utf8("1"));
  });

  add("a background write is accepted and reads back the same", async (s) => {
    const value = utf8("background ".repeat(40));
    await s.write({ put: [["b", value]] }, { background: true });
    checkEqual(await s.get("b"), value);
  });

  add("calls after close reject with STORE_CLOSED; close is idempotent", async (s) => {
    await s.close();
    await s.close();
    await checkRejects(s.get("a"), "STORE_CLOSED");
    await checkRejects(s.list(""), "STORE_CLOSED");
    await checkRejects(s.write({ put: [["a", utf8("1")]] }), "STORE_CLOSED");
  });

  add("writes in flight at close complete", async (s) => {
    const pending = s.write({ put: [["w", utf8("1")]] });
    await s.close();
    await pending;
  });

  add("data survives close and reopen (persistent stores)", async (s, reopen) => {
    if (!s.supports.persistent || !reopen) return;
    await s.write({ put: [["keep", utf8("me")], ["gone", utf8("x")]] });
    await s.write({ del: ["gone"] });
    await s.close();
    const again = await reopen();
    try {
      checkEqual(await again.get("keep"), utf8("me"));
      checkEqual(await again.get("gone"), undefined);
      checkEqual(await again.list(""), ["keep"]);
    } finally {
      await again.close();
    }
  });

  add("destroy removes the data", async (s, reopen) => {
    await s.write({ put: [["d", utf8("1")]] });
    await s.destroy();
    await checkRejects(s.get("d"), "STORE_CLOSED");
    if (!reopen) return;
    const again = await reopen();
    try {
      checkEqual(await again.list(""), []);
    } finally {
      await again.destroy();
    }
  });

  return cases;
}
