/**
 * Convergence (DESIGN guarantee 1) and no lost writes (guarantee 2) under
 * replication, without a sync engine: replicas in one process exchange
 * events through the ledger's hooks, in random order, duplicated, delayed,
 * partial (children before parents) and across restarts; after a final full
 * exchange they must agree bit for bit and match what causality alone says
 * each document should be.
 */
import fc from "fast-check";
import { CID } from "multiformats/cid";
import { createEvent } from "../src/crdt/event.js";
import { afterEach, describe, expect, it } from "vitest";
import { open } from "../src/index.node.js";
import type { Ledger } from "../src/ledger/ledger.js";
import { EventGraph } from "./helpers/event-graph.js";
import { causalOrder, missingEvents, pushEvents, syncAll, type EventTransfer } from "./helpers/replicate.js";
import { IDS, Scenario, codeOf, commandArb, deliver, snapshot } from "./helpers/convergence-scenario.js";
import { rng } from "./helpers/rng.js";

let unique = 0;
const opened: Ledger[] = [];

/** Opens a fresh in-memory replica with its own keyring (so nothing is shared by accident). */
async function replica(prefix: string): Promise<{ ledger: Ledger; reopen: () => Promise<Ledger> }> {
  const tag = `${prefix}-${process.pid}-${unique++}`;
  const options = { store: `memory://conv-${tag}`, keyring: `memory://conv-key-${tag}` };
  const ledger = await open("conv", options);
  opened.push(ledger);
  return {
    ledger,
    reopen: async () => {
      const again = await open("conv", options);
      opened.push(again);
      return again;
    },
  };
}

afterEach(async () => {
  // destroy() also frees the process-wide memory store; closed ledgers reject it, which is fine.
  await Promise.all(opened.splice(0).map((l) => l.destroy().catch(() => undefined)));
});

describe("convergence (property)", () => {
  it("replicas that exchange events in any order, duplicated, delayed, partial and across restarts converge to the causal outcome", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 5 }), fc.array(commandArb, { minLength: 1, maxLength: 60, size: "max" }), async (count, commands) => {
        const made = await Promise.all(Array.from({ length: count }, () => replica("prop")));
        const scenario = new Scenario(
          made.map((m) => m.ledger),
          made.map((m) => m.reopen),
        );
        try {
          for (const command of commands) await scenario.run(command);
          for (let r = 0; r < count; r++) await deliver(scenario.replicas[r]!, scenario.held[r]!.splice(0), rng(r));
          await syncAll(scenario.replicas);

          const [first, ...rest] = await Promise.all(scenario.replicas.map(snapshot));
          for (const other of rest) expect(other).toEqual(first);

          const graph = await EventGraph.of(scenario.replicas[0]!);
          for (const [cid, event] of graph.events) expect(event.lamport, `lamport of ${cid}`).toBe(graph.expectedLamport(cid));
          for (const w of scenario.writes) expect(graph.events.has(w.event), `acknowledged event ${w.event} survived`).toBe(true);
          const expectedRows = [];
          for (const id of IDS) {
            const expected = scenario.expected(graph, id);
            if (expected === undefined) {
              expect(first!.docs[id]).toBe("NOT_FOUND");
              continue;
            }
            const { winner, conflicts } = expected;
            if (winner.body === null) {
              expect(first!.docs[id]).toBe("NOT_FOUND");
              expectedRows.push({ key: id, value: { _id: id, _deleted: true } });
            } else {
              expect(first!.docs[id]).toEqual({ _id: id, ...winner.body, _conflicts: conflicts.map((c) => ({ _id: id, ...c.body })) });
              expectedRows.push({ key: id, value: { _id: id, ...winner.body } });
            }
          }
          expect(first!.allDocs).toEqual(expectedRows);
          const live = expectedRows.filter((row) => !("_deleted" in row.value)).map((row) => row.value as { _id: string; n: number });
          live.sort((a, b) => a.n - b.n || (a._id < b._id ? -1 : 1));
          expect(first!.query.map((row) => [row.id, row.key])).toEqual(live.map((d) => [d._id, d.n]));
        } finally {
          await Promise.all(scenario.replicas.map((l) => l.destroy().catch(() => undefined)));
          opened.length = 0;
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("convergence (examples)", () => {
  it("concurrent writes to one id: both replicas pick the same winner and keep the loser; a later write resolves it", async () => {
    const { ledger: a } = await replica("pair");
    const { ledger: b } = await replica("pair");
    const wa = await a.put({ _id: "x", from: "a" });
    const wb = await b.put({ _id: "x", from: "b" });
    await pushEvents(a, b);
    await pushEvents(b, a);
    const onA = await a.get("x", { conflicts: true });
    const onB = await b.get("x", { conflicts: true });
    expect(onA).toEqual(onB);
    expect(await a.root()).toBe(await b.root());
    // Both events have lamport 1: the tie goes to the greater event CID.
    const aWins = (await EventGraph.of(a)).compareBestFirst(wa.clock[0]!, wb.clock[0]!) < 0;
    const [winner, loser] = aWins ? ["a", "b"] : ["b", "a"];
    expect(onA).toEqual({ _id: "x", from: winner, _conflicts: [{ _id: "x", from: loser }] });

    await b.put({ _id: "x", from: "b", resolved: true });
    await pushEvents(b, a);
    for (const ledger of [a, b]) expect(await ledger.get("x", { conflicts: true })).toEqual({ _id: "x", from: "b", resolved: true, _conflicts: [] });
    expect(await a.root()).toBe(await b.root());
  });

  it("a concurrent delete loses no conflict data and converges", async () => {
    const { ledger: a } = await replica("del");
    const { ledger: b } = await replica("del");
    await a.put({ _id: "x", v: 1 });
    await pushEvents(a, b);
    await a.del("x");
    await b.put({ _id: "x", v: 2 });
    await b.put({ _id: "x", v: 3 }); // lamport 3 beats the delete's 2
    await syncAll([a, b]);
    for (const ledger of [a, b]) expect(await ledger.get("x", { conflicts: true })).toEqual({ _id: "x", v: 3, _conflicts: [] });
    expect(await a.root()).toBe(await b.root());
  });

  it("a child event ingested before its parent waits, then applies when the parent arrives", async () => {
    const { ledger: a } = await replica("wait");
    const { ledger: b } = await replica("wait");
    await a.put({ _id: "p", v: 1 });
    await a.put({ _id: "q", v: 2 });
    const [parent, child] = causalOrder(await missingEvents(a, b)) as [EventTransfer, EventTransfer];
    expect(await b.ingest([{ cid: child.cid, bytes: child.bytes }])).toEqual({ applied: 0, waiting: 1, refused: 0 });
    expect(await b.hasEvent(child.cid)).toBe(false);
    expect(await codeOf(b.get("q"))).toBe("NOT_FOUND");
    expect(await b.ingest([{ cid: parent.cid, bytes: parent.bytes }])).toEqual({ applied: 2, waiting: 0, refused: 0 });
    expect(await b.get("q")).toEqual({ _id: "q", v: 2 });
    expect(await b.root()).toBe(await a.root());
    // Ingesting what is already there changes nothing.
    expect(await b.ingest([child, parent].map(({ cid, bytes }) => ({ cid, bytes })))).toEqual({ applied: 0, waiting: 0, refused: 0 });
  });

  it("the lamport rule: an event whose lamport is not exactly one more than its parents' greatest is refused, with what builds on it", async () => {
    const { ledger: a } = await replica("lamport");
    const { ledger: b } = await replica("lamport");
    await a.put({ _id: "p", v: 1 });
    const [parent] = causalOrder(await missingEvents(a, b)) as [EventTransfer];
    const forge = async (parents: CID[], lamport: number, id: string) => createEvent(parents, lamport, [{ i: id, d: { v: "forged" }, s: [] }], new Uint8Array(16));
    const poisoned = await forge([CID.parse(parent.cid)], Number.MAX_SAFE_INTEGER, "p"); // would win every conflict and end lamports
    const low = await forge([CID.parse(parent.cid)], 1, "low");
    const rootless = await forge([], 5, "rootless");
    const above = await forge([poisoned.cid], Number.MAX_SAFE_INTEGER, "above");
    const result = await b.ingest([parent, poisoned, low, rootless, above].map(({ cid, bytes }) => ({ cid, bytes })));
    expect(result).toEqual({ applied: 1, waiting: 0, refused: 4 });
    for (const id of ["low", "rootless", "above"]) expect(await codeOf(b.get(id))).toBe("NOT_FOUND");
    expect(await b.get("p")).toEqual({ _id: "p", v: 1 });
    // A child of a refused event that arrives later is refused at once, not left waiting.
    const later = await forge([above.cid], Number.MAX_SAFE_INTEGER, "later");
    expect(await b.ingest([{ cid: later.cid, bytes: later.bytes }])).toEqual({ applied: 0, waiting: 0, refused: 1 });
    // The replica keeps writing, and its writes stay acceptable to others.
    await b.put({ _id: "after", v: 2 });
    await syncAll([a, b]);
    expect(await a.get("after")).toEqual({ _id: "after", v: 2 });
    expect(await a.root()).toBe(await b.root());
  });

  it("a tampered event is rejected with INTEGRITY and nothing from the call is merged", async () => {
    const { ledger: a } = await replica("tamper");
    const { ledger: b } = await replica("tamper");
    await a.put({ _id: "p", v: 1 });
    await a.put({ _id: "q", v: 2 });
    const [good, bad] = causalOrder(await missingEvents(a, b)) as [EventTransfer, EventTransfer];
    const bytes = bad.bytes.slice();
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    expect(await codeOf(b.ingest([{ cid: good.cid, bytes: good.bytes }, { cid: bad.cid, bytes }]))).toBe("INTEGRITY");
    expect(await b.hasEvent(good.cid)).toBe(false);
    expect(b.heads()).toEqual([]);
  });
});

describe("subscribe on remote changes", () => {
  it("fires for events merged by ingest, with the changed documents, like for local commits", async () => {
    const { ledger: a } = await replica("sub");
    const { ledger: b } = await replica("sub");
    const seen: unknown[][] = [];
    const off = b.subscribe((docs) => seen.push(docs));
    await a.put({ _id: "x", v: 1 });
    await a.bulk([{ _id: "y", v: 2 }, { _id: "z", v: 3 }]);
    await a.del("x");

    const events = causalOrder(await missingEvents(a, b));
    // The last event alone must wait for its parents: no notification yet.
    await b.ingest([events[2]!].map(({ cid, bytes }) => ({ cid, bytes })));
    expect(seen).toEqual([]);
    await b.ingest(events.slice(0, 2).map(({ cid, bytes }) => ({ cid, bytes })));
    expect(seen.flat()).toEqual([
      { _id: "x", v: 1 },
      { _id: "y", v: 2 },
      { _id: "z", v: 3 },
      { _id: "x", _deleted: true },
    ]);

    // A duplicate delivery changes nothing and notifies nobody.
    seen.length = 0;
    await b.ingest(events.map(({ cid, bytes }) => ({ cid, bytes })));
    expect(seen).toEqual([]);

    // A remote write that loses to a local one still reports the document as it now reads.
    await b.put({ _id: "y", v: "local" });
    await b.put({ _id: "y", v: "local again" });
    await a.put({ _id: "y", v: "remote" });
    seen.length = 0;
    await pushEvents(a, b);
    expect(seen.flat()).toEqual([{ _id: "y", v: "local again" }]);

    off();
    await a.put({ _id: "w", v: 4 });
    await pushEvents(a, b);
    expect(seen.flat()).toHaveLength(1);
  });
});
