/**
 * The remote conformance suite. Every {@link Remote} — memory, file, and
 * later the sync server's client and S3 — must pass every case, because the
 * sync engine relies on exactly the documented semantics and nothing more.
 * Cases test only what `remote/types.ts` promises; watch cases run only
 * where `supports.watch` says so. Browser-safe.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { Remote, RemoteChange } from "../remote/types.js";
import { check, checkEqual, checkRejects, utf8, type TestCase } from "./harness.js";

/** Opens a fresh, empty sync point for one test case. */
export interface RemoteFactory {
  /** Short label used in case names ("memory", "file", …). */
  readonly label: string;
  /**
   * A client of a new, empty sync point no other call shares. `openAnother`
   * opens one more client onto the same sync point (another handle, as a
   * second replica would have); `cleanup` frees the sync point afterwards.
   */
  open(): Promise<{ remote: Remote; openAnother(): Promise<Remote>; cleanup?(): Promise<void> }>;
}

/**
 * Polls `condition` with short timers until it holds, or throws after
 * `timeoutMs` naming `what`: push tests wait on what they expect, never for
 * a fixed time.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Generous: the file remote's polling fallback and real networks both need slack. */
const PUSH_TIMEOUT_MS = 10_000;

const BAD_NAMES: unknown[] = ["", "../x", "a//b", "/a", "a/", "a/../b", "./a", "a/./b", "has space", "a\\b", "é", 42, null, undefined, "x".repeat(513), "x".repeat(256)];
const BAD_PREFIXES: unknown[] = ["../x", "a/../b", "./", "has space", "é", 7, null, "x".repeat(513)];

/** The conformance cases for `factory`. */
export function remoteConformance(factory: RemoteFactory): TestCase[] {
  const cases: TestCase[] = [];
  type Body = (remote: Remote, another: () => Promise<Remote>) => Promise<void>;
  const add = (name: string, run: Body, when: (remote: Remote) => boolean = () => true): void => {
    cases.push({
      name: `${factory.label}: ${name}`,
      run: async () => {
        const { remote, openAnother, cleanup } = await factory.open();
        const others: Remote[] = [];
        try {
          if (!when(remote)) return;
          await run(remote, async () => {
            const other = await openAnother();
            others.push(other);
            return other;
          });
        } finally {
          for (const r of [remote, ...others]) await r.close().catch(() => undefined);
          await cleanup?.();
        }
      },
    });
  };
  const watching = (remote: Remote): boolean => remote.supports.watch && typeof remote.watch === "function";

  add("put then get returns equal bytes", async (r) => {
    const bin = new Uint8Array(256).map((_, i) => i);
    await r.put("bundle/abc", bin);
    checkEqual(await r.get("bundle/abc"), bin);
  });

  add("empty and ~4 MiB values round-trip", async (r) => {
    const big = new Uint8Array(4 * 1024 * 1024 + 3);
    for (let i = 0; i < big.length; i += 997) big[i] = (i >> 10) & 0xff;
    await r.put("v/empty", new Uint8Array(0));
    await r.put("v/big", big);
    checkEqual(await r.get("v/empty"), new Uint8Array(0));
    checkEqual(await r.get("v/big"), big);
  });

  add("a name of the maximum length works", async (r) => {
    const name = `${"a".repeat(255)}/${"b".repeat(254)}/c`;
    check(name.length === 512, "512 characters");
    await r.put(name, utf8("max"));
    checkEqual(await r.get(name), utf8("max"));
    checkEqual(await r.list("a"), [name]);
  });

  add("overwrite replaces the value", async (r) => {
    await r.put("key/dev/1", utf8("one"));
    await r.put("key/dev/1", utf8("two, longer"));
    checkEqual(await r.get("key/dev/1"), utf8("two, longer"));
    checkEqual(await r.list(""), ["key/dev/1"]);
  });

  add("get of a missing name is undefined", async (r) => {
    checkEqual(await r.get("head/none"), undefined);
    await r.put("head/x/y", utf8("1"));
    checkEqual(await r.get("head/x"), undefined);
    checkEqual(await r.get("head/x/y/z"), undefined);
  });

  add("values are copied in and out", async (r) => {
    const v = utf8("abc");
    const pending = r.put("c/k", v);
    v[0] = 0; // while the put is in flight
    await pending;
    v[1] = 0;
    const got = await r.get("c/k");
    check(got !== undefined, "value present");
    checkEqual(got, utf8("abc"));
    got[2] = 0;
    checkEqual(await r.get("c/k"), utf8("abc"));
  });

  add("list: a prefix is a plain string prefix", async (r) => {
    for (const n of ["head/a", "head/b", "headx/c", "heads", "he/d", "bundle/e"]) await r.put(n, utf8(n));
    checkEqual(await r.list("head/"), ["head/a", "head/b"]);
    checkEqual(await r.list("head"), ["head/a", "head/b", "heads", "headx/c"]);
    checkEqual(await r.list("he"), ["he/d", "head/a", "head/b", "heads", "headx/c"]);
    checkEqual(await r.list("head/a"), ["head/a"]);
    checkEqual(await r.list("nothing/"), []);
    checkEqual(await r.list("/head"), []);
    checkEqual(await r.list("head//"), []);
  });

  add("list: nested names and partial segments", async (r) => {
    for (const n of ["key/fp1/a", "key/fp1/b", "key/fp2/a", "key/share-1", "key/fp1x/c/d"]) await r.put(n, utf8(n));
    checkEqual(await r.list("key/fp1/"), ["key/fp1/a", "key/fp1/b"]);
    checkEqual(await r.list("key/fp1"), ["key/fp1/a", "key/fp1/b", "key/fp1x/c/d"]);
    checkEqual(await r.list("key/"), ["key/fp1/a", "key/fp1/b", "key/fp1x/c/d", "key/fp2/a", "key/share-1"]);
    checkEqual(await r.list("key/fp1x/c/"), ["key/fp1x/c/d"]);
  });

  add("list: ascending plain string order; \"\" lists all", async (r) => {
    const names = ["o/b", "o/B", "o/10", "o/2", "o/-x", "o/_y", "o/.z", "o/a/b", "o/a-b", "o/a.c", "o/a0", "o/a_", "p", "O/1", "9"];
    for (const n of [...names].reverse()) await r.put(n, utf8(n));
    const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    checkEqual(await r.list(""), sorted);
    checkEqual(await r.list("o/"), sorted.filter((n) => n.startsWith("o/")));
    checkEqual(await r.list("o/."), ["o/.z"]);
  });

  add("delete removes; deleting a missing name is fine", async (r) => {
    await r.put("head/1", utf8("1"));
    await r.put("head/2", utf8("2"));
    await r.delete("head/1");
    await r.delete("head/1");
    await r.delete("head/never");
    await r.delete("nowhere/at/all");
    checkEqual(await r.get("head/1"), undefined);
    checkEqual(await r.list(""), ["head/2"]);
  });

  add("names are validated on every method (INVALID_ARGUMENT), and nothing is written", async (r) => {
    for (const bad of BAD_NAMES) {
      const name = bad as string;
      await checkRejects(() => r.put(name, utf8("x")), "INVALID_ARGUMENT");
      await checkRejects(() => r.get(name), "INVALID_ARGUMENT");
      await checkRejects(() => r.delete(name), "INVALID_ARGUMENT");
    }
    for (const bad of BAD_PREFIXES) {
      await checkRejects(() => r.list(bad as string), "INVALID_ARGUMENT");
      if (r.watch) checkThrows(() => r.watch?.(bad as string, () => undefined), "INVALID_ARGUMENT");
    }
    checkEqual(await r.list(""), []);
  });

  add("many concurrent puts of distinct names all land", async (r) => {
    const names = Array.from({ length: 120 }, (_, i) => `bundle/${i % 3}/n${String(i).padStart(3, "0")}`);
    await Promise.all(names.map((n) => r.put(n, utf8(n))));
    checkEqual(await r.list("bundle/"), [...names].sort());
    checkEqual(await r.get("bundle/1/n100"), utf8("bundle/1/n100"));
  });

  add("a second client sees the first's writes and deletes, and the reverse", async (r, another) => {
    const b = await another();
    await r.put("head/a", utf8("from a"));
    checkEqual(await b.get("head/a"), utf8("from a"));
    checkEqual(await b.list("head/"), ["head/a"]);
    await b.put("head/a", utf8("b wrote"));
    await b.put("head/b", utf8("b"));
    checkEqual(await r.get("head/a"), utf8("b wrote"));
    await b.delete("head/a");
    checkEqual(await r.get("head/a"), undefined);
    checkEqual(await r.list(""), ["head/b"]);
  });

  add("closing one client leaves the others and the data alone", async (r, another) => {
    const b = await another();
    await r.put("k/1", utf8("1"));
    await r.close();
    checkEqual(await b.get("k/1"), utf8("1"));
    await b.put("k/2", utf8("2"));
    const c = await another();
    checkEqual(await c.list("k/"), ["k/1", "k/2"]);
  });

  add("watch fires after another client's put and delete", async (r, another) => {
    const b = await another();
    let calls = 0;
    const stop = r.watch?.("head/", () => calls++);
    await b.put("bundle/x", utf8("other prefix")); // may or may not fire; must not break anything
    const before = calls;
    await b.put("head/1", utf8("1"));
    await waitFor(() => calls > before, PUSH_TIMEOUT_MS, "a call after a put");
    const afterPut = calls;
    await b.delete("head/1");
    await waitFor(() => calls > afterPut, PUSH_TIMEOUT_MS, "a call after a delete");
    stop?.();
  }, watching);

  add("a watch that names its changes names them truly, with the values put", async (r, another) => {
    const b = await another();
    const seen: (RemoteChange[] | undefined)[] = [];
    // Copies: a listener may keep what it is given.
    const stop = r.watch?.("head/", (changes) => seen.push(changes?.map((c) => ({ ...c, ...(c.bytes && { bytes: Uint8Array.from(c.bytes) }) }))));
    await b.put("head/1", utf8("one"));
    await b.put("head/2", utf8("two"));
    await b.put("bundle/x", utf8("not watched"));
    const beforeDelete = seen.length;
    await b.delete("head/1");
    const named = (): RemoteChange[] => seen.flatMap((c) => c ?? []);
    const deleteTold = (): boolean => named().some((c) => c.op === "delete") || seen.slice(beforeDelete).includes(undefined);
    await waitFor(deleteTold, PUSH_TIMEOUT_MS, "a call after the delete");
    const values: Record<string, string> = { "head/1": "one", "head/2": "two" };
    for (const change of named()) {
      check(change.name in values, `a named change is under the prefix and was made: ${change.name}`);
      if (change.op === "put" && change.bytes) checkEqual(change.bytes, utf8(values[change.name]!));
      check(change.op === "put" || change.name === "head/1", `only head/1 was deleted, not ${change.name}`);
    }
    if (!seen.includes(undefined)) {
      // Every notification named its changes: then they name every change, in order.
      checkEqual(named().map((c) => `${c.op} ${c.name}`), ["put head/1", "put head/2", "delete head/1"]);
    }
    stop?.();
  }, watching);

  add("putAll stores every entry in order; a bad name stores nothing", async (r, another) => {
    const putAll = r.putAll!.bind(r);
    await putAll([]);
    const values = [utf8("first"), utf8("second"), utf8("third, longer")];
    await putAll([["b/1", values[0]!], ["h/1", values[1]!], ["b/1", values[2]!]]);
    values[0]![0] = 0; // copied in
    const b = await another();
    checkEqual(await b.list(""), ["b/1", "h/1"]);
    checkEqual(await b.get("b/1"), utf8("third, longer")); // the later entry wins
    checkEqual(await b.get("h/1"), utf8("second"));
    await checkRejects(putAll([["ok/1", utf8("x")], ["../bad", utf8("y")]]), "INVALID_ARGUMENT");
    checkEqual(await b.list("ok/"), []);
  }, (remote) => typeof remote.putAll === "function");

  add("putStream stores the chunks as one value; a failing stream or check stores nothing", async (r, another) => {
    const putStream = r.putStream!.bind(r);
    async function* chunksOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
      for (const part of parts) yield part;
    }
    let checked = 0;
    await putStream("s/1", chunksOf(utf8("one, "), utf8("two, "), new Uint8Array(0), utf8("three")), () => void checked++);
    checkEqual(checked, 1);
    const b = await another();
    checkEqual(await b.get("s/1"), utf8("one, two, three"));
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield utf8("partial");
      throw new Error("the client went away");
    }
    const streamFailure = await putStream("s/2", failing()).then(() => undefined, (err: unknown) => err);
    checkEqual((streamFailure as Error | undefined)?.message, "the client went away");
    const checkFailure = await putStream("s/1", chunksOf(utf8("tampered")), () => {
      throw new Error("refused by the check");
    }).then(() => undefined, (err: unknown) => err);
    checkEqual((checkFailure as Error | undefined)?.message, "refused by the check");
    checkEqual(await b.list("s/"), ["s/1"]);
    checkEqual(await b.get("s/1"), utf8("one, two, three"));
  }, (remote) => typeof remote.putStream === "function");

  add("watch fires for this client's own writes and for nested names", async (r) => {
    let calls = 0;
    const stop = r.watch?.("key/", () => calls++);
    await r.put("key/fp/1", utf8("1"));
    await waitFor(() => calls > 0, PUSH_TIMEOUT_MS, "a call after a nested put");
    stop?.();
  }, watching);

  add("unsubscribe and close stop further calls", async (r, another) => {
    const b = await another();
    const c = await another();
    let stopped = 0;
    let closed = 0;
    let witness = 0;
    const stop = r.watch?.("w/", () => stopped++);
    c.watch?.("w/", () => closed++);
    b.watch?.("w/", () => witness++);
    await b.put("w/1", utf8("1"));
    await waitFor(() => stopped > 0 && closed > 0 && witness > 0, PUSH_TIMEOUT_MS, "every watcher to fire");
    stop?.();
    await c.close();
    const [s, cl, w] = [stopped, closed, witness];
    await b.put("w/2", utf8("2"));
    await b.delete("w/1");
    // The watcher still subscribed is the witness that the changes were pushed.
    await waitFor(() => witness > w, PUSH_TIMEOUT_MS, "the witness watcher");
    checkEqual({ stopped, closed }, { stopped: s, closed: cl }, "calls after unsubscribe or close");
  }, watching);

  add("after close every method rejects STORE_CLOSED; close is idempotent", async (r) => {
    await r.put("a", utf8("1"));
    await r.close();
    await r.close();
    await checkRejects(r.put("a", utf8("2")), "STORE_CLOSED");
    await checkRejects(r.get("a"), "STORE_CLOSED");
    await checkRejects(r.list(""), "STORE_CLOSED");
    await checkRejects(r.delete("a"), "STORE_CLOSED");
    if (r.watch) checkThrows(() => r.watch?.("", () => undefined), "STORE_CLOSED");
  });

  return cases;
}

/** Throws unless `fn` throws synchronously a HearthError of `code` (watch is not async). */
function checkThrows(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof HearthError && err.code === code) return;
    throw new Error(`expected a throw with ${code}, got ${String(err)}`);
  }
  throw new Error(`expected a throw with ${code}, but it returned`);
}
