// The fault-injecting remote wrapper: every fault is really injected (with a
// fixed seed), the choices replay from the seed, and heal() gives back a
// plain pass-through remote.
import { describe, expect, it } from "vitest";
import { dropMemoryRemote, openMemoryRemote } from "../src/remote/memory.js";
import type { Remote } from "../src/remote/types.js";
import { faultyRemote, type FaultyRemoteOptions } from "../src/testing/faulty-remote.js";
import { remoteConformance } from "../src/testing/remote-suite.js";
import { eventually } from "./helpers/eventually.js";
import { expectCode } from "./helpers/expect-code.js";

let counter = 0;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A fresh memory remote, a second client on it, and a faulty wrapper over the first. */
async function setup(options: FaultyRemoteOptions): Promise<{ inner: Remote; other: Remote; faulty: ReturnType<typeof faultyRemote> }> {
  const url = `memory://faulty-${process.pid}-${counter++}`;
  const inner = await openMemoryRemote(url);
  return { inner, other: await openMemoryRemote(url), faulty: faultyRemote(inner, options) };
}

/** Settles `promise` to "ok" or its error code. */
const outcome = (promise: Promise<unknown>): Promise<string> => promise.then(() => "ok", (e: { code?: string }) => e.code ?? String(e));

describe("faultyRemote", () => {
  describe("with no faults it is a conforming remote", () => {
    const cases = remoteConformance({
      label: "faulty(memory) passing through",
      async open() {
        const url = `memory://faulty-conformance-${counter++}`;
        const wrap = async (): Promise<Remote> => faultyRemote(await openMemoryRemote(url), { seed: 1 });
        return { remote: await wrap(), openAnother: wrap, cleanup: async () => dropMemoryRemote(url) };
      },
    });
    for (const c of cases) it(c.name, c.run);
  });

  it("fails before performing: the caller sees STORAGE_FAILED and nothing happened", async () => {
    const { other, faulty } = await setup({ seed: 3, failRate: 1, failAfterShare: 0 });
    await expectCode(faulty.put("head/a", bytes("a")), "STORAGE_FAILED");
    await other.put("head/b", bytes("b"));
    await expectCode(faulty.delete("head/b"), "STORAGE_FAILED");
    await expectCode(faulty.get("head/b"), "STORAGE_FAILED");
    await expectCode(faulty.list(""), "STORAGE_FAILED");
    expect(await other.list("")).toEqual(["head/b"]);
    expect(faulty.stats.failedBefore).toBe(4);
    expect(faulty.stats.failedAfter).toBe(0);
  });

  it("fails after performing: the write happened although the caller saw a failure", async () => {
    const { other, faulty } = await setup({ seed: 4, failRate: 1, failAfterShare: 1 });
    await expectCode(faulty.put("head/a", bytes("a")), "STORAGE_FAILED");
    expect(await other.get("head/a")).toEqual(bytes("a"));
    await expectCode(faulty.delete("head/a"), "STORAGE_FAILED");
    expect(await other.get("head/a")).toBeUndefined();
    expect(faulty.stats.failedAfter).toBe(2);
  });

  it("the same seed makes the same choices; another seed others", async () => {
    const run = async (seed: number): Promise<string[]> => {
      const { faulty } = await setup({ seed, failRate: 0.4 });
      const results: string[] = [];
      for (let i = 0; i < 60; i++) results.push(await outcome(faulty.put(`n/${i}`, bytes(String(i)))));
      return results;
    };
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
    expect(first).toContain("ok");
    expect(first).toContain("STORAGE_FAILED");
  });

  it("delays reorder concurrent operations by whole macrotask turns", async () => {
    const { faulty } = await setup({ seed: 5, delayRate: 1, maxDelayTurns: 6 });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 20 }, (_, i) => faulty.put(`d/${i}`, bytes(String(i))).then(() => order.push(i))));
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
    expect(faulty.stats.delayed).toBeGreaterThanOrEqual(20);
    expect(await faulty.list("d/")).toHaveLength(20);
  });

  it("duplicates puts late, even after the caller moved on (and after a failure)", async () => {
    const { inner, faulty } = await setup({ seed: 6, duplicateRate: 1, failRate: 0.5, maxDelayTurns: 3 });
    let innerPuts = 0;
    const put = inner.put.bind(inner);
    inner.put = (name, value) => {
      innerPuts++;
      return put(name, value);
    };
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => outcome(faulty.put(`x/${i}`, bytes(String(i))))));
    await faulty.settled();
    const performed = results.filter((r) => r === "ok").length + faulty.stats.failedAfter;
    expect(faulty.stats.duplicated).toBe(10);
    expect(innerPuts).toBe(performed + 10);
    expect(await inner.list("x/")).toHaveLength(10); // every put landed, failed or not
  });

  it("shuffles listings and hides names written in the last few ms, until they settle", async () => {
    const { faulty } = await setup({ seed: 7, shuffleLists: true, omitRecentRate: 1, recentMs: 40 });
    const names = Array.from({ length: 30 }, (_, i) => `s/${String(i).padStart(2, "0")}`);
    for (const n of names) await faulty.put(n, bytes(n));
    expect(await faulty.list("s/")).toEqual([]);
    expect(faulty.stats.omitted).toBe(30);
    const listed = await eventually(async () => {
      const got = await faulty.list("s/");
      expect(got).toHaveLength(30);
      return got;
    }, { timeoutMs: 5_000 });
    expect(listed).not.toEqual(names);
    expect([...listed].sort()).toEqual(names);
    expect(faulty.stats.shuffled).toBeGreaterThan(0);
  });

  it("drops the watch until healed", async () => {
    const { other, faulty } = await setup({ seed: 8, dropWatchRate: 1 });
    let calls = 0;
    let witness = 0;
    faulty.watch?.("w/", () => calls++);
    other.watch?.("w/", () => witness++);
    await other.put("w/1", bytes("1"));
    await eventually(() => expect(witness).toBe(1));
    await other.put("w/2", bytes("2"));
    await eventually(() => expect(witness).toBe(2));
    expect(calls).toBe(0);
    expect(faulty.stats.watchDropped).toBe(1); // dropped once, then silent
    faulty.heal();
    await other.put("w/3", bytes("3"));
    await eventually(() => expect(calls).toBe(1));
  });

  it("offline: every operation fails and nothing is pushed, until back online", async () => {
    const { other, faulty } = await setup({ seed: 9 });
    let calls = 0;
    let witness = 0;
    faulty.watch?.("", () => calls++);
    other.watch?.("", () => witness++);
    faulty.setOffline(true);
    const codes = await Promise.all([faulty.put("a", bytes("a")), faulty.get("a"), faulty.list(""), faulty.delete("a")].map(outcome));
    expect(codes).toEqual(["STORAGE_FAILED", "STORAGE_FAILED", "STORAGE_FAILED", "STORAGE_FAILED"]);
    await other.put("b", bytes("b"));
    await eventually(() => expect(witness).toBe(1));
    expect(calls).toBe(0);
    expect(faulty.stats.offline).toBe(4);
    faulty.setOffline(false);
    expect(await faulty.list("")).toEqual(["b"]);
  });

  it("validates names before any fault, and answers STORE_CLOSED after close", async () => {
    const { inner, faulty } = await setup({ seed: 10, failRate: 1, duplicateRate: 1 });
    faulty.setOffline(true);
    await expectCode(faulty.put("../x", bytes("x")), "INVALID_ARGUMENT");
    await expectCode(faulty.list("a b"), "INVALID_ARGUMENT");
    faulty.setOffline(false);
    await faulty.put("late", bytes("1")).catch(() => undefined);
    await faulty.close();
    await expectCode(faulty.get("late"), "STORE_CLOSED");
    await expectCode(inner.get("late"), "STORE_CLOSED"); // closing the wrapper closed the inner remote
  });

  it("heal() turns every fault off: a plain pass-through again", async () => {
    const { faulty } = await setup({ seed: 11, failRate: 1, delayRate: 1, duplicateRate: 1, shuffleLists: true, omitRecentRate: 1, dropWatchRate: 1 });
    faulty.setOffline(true);
    faulty.heal();
    const before = { ...faulty.stats };
    let calls = 0;
    faulty.watch?.("", () => calls++);
    const names = ["c", "a", "b/1", "b/0"];
    for (const n of names) await faulty.put(n, bytes(n));
    expect(await faulty.list("")).toEqual([...names].sort());
    expect(await faulty.get("b/1")).toEqual(bytes("b/1"));
    await faulty.delete("a");
    await eventually(() => expect(calls).toBeGreaterThan(0));
    expect(faulty.stats).toEqual(before);
  });
});
