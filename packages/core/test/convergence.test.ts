/**
 * Convergence (DESIGN guarantee 1) and no lost writes (guarantee 2) under
 * replication, without a sync engine: replicas in one process exchange
 * events through the ledger's hooks, in random order, duplicated, delayed,
 * partial (children before parents) and across restarts; after a final full
 * exchange they must agree bit for bit and match what causality alone says
 * each document should be.
 */
import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { open } from "../src/index.node.js";
import { HearthError } from "../src/errors.js";
import type { Ledger } from "../src/ledger/ledger.js";
import type { Doc } from "../src/ledger/types.js";
import { EventGraph } from "./helpers/event-graph.js";
import { causalOrder, missingEvents, pushEvents, syncAll, type EventTransfer } from "./helpers/replicate.js";

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

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (err instanceof HearthError) return err.code;
    throw err;
  }
}

/** A document read with conflicts, or the error code reading it gave. */
async function readWithConflicts(ledger: Ledger, id: string): Promise<Doc | string> {
  try {
    return await ledger.get(id, { conflicts: true });
  } catch (err) {
    if (err instanceof HearthError) return err.code;
    throw err;
  }
}

// ------------------------------------------------------------ the model

const IDS = ["a", "b", "c", "d", "e", "f"] as const;

type DocSpec = { id: string; n: number };
type Command =
  | { t: "put"; r: number; doc: DocSpec }
  | { t: "putAll"; r: number; docs: DocSpec[] }
  | { t: "bulk"; r: number; docs: DocSpec[] }
  | { t: "del"; r: number; id: string }
  | { t: "send"; from: number; to: number; seed: number; hold: boolean }
  | { t: "release"; to: number; seed: number }
  | { t: "restart"; r: number }
  | { t: "race"; from: number; to: number; doc: DocSpec }
  | { t: "read"; r: number };

const replicaArb = fc.nat(4);
const docArb = fc.record({ id: fc.constantFrom(...IDS), n: fc.nat(3) });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("put" as const), r: replicaArb, doc: docArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("putAll" as const), r: replicaArb, docs: fc.array(docArb, { minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("bulk" as const), r: replicaArb, docs: fc.array(docArb, { minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("del" as const), r: replicaArb, id: fc.constantFrom(...IDS) }) },
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant("send" as const), from: replicaArb, to: replicaArb, seed: fc.nat(), hold: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("release" as const), to: replicaArb, seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const), r: replicaArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("race" as const), from: replicaArb, to: replicaArb, doc: docArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("read" as const), r: replicaArb }) },
);

/** One acknowledged write to one document: `body` null for a deletion. */
interface AckedWrite {
  readonly id: string;
  readonly event: string;
  /** Order of issue on its replica; the later of two writes in one event wins. */
  readonly order: number;
  readonly body: Record<string, unknown> | null;
}

/** Small deterministic PRNG (mulberry32), so a delivery is a pure function of its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * A delivery as the network might make it: a random subset or a suffix
 * (children without their parents), or everything; shuffled; with
 * duplicates; split over several `ingest` calls.
 */
async function deliver(target: Ledger, events: EventTransfer[], random: () => number): Promise<void> {
  const mode = random();
  let chosen = events;
  let oneByOne = false;
  if (mode < 0.25) chosen = shuffle(events.filter(() => random() < 0.5), random);
  else if (mode < 0.4) chosen = shuffle(events.slice(Math.floor(random() * events.length)), random);
  else if (mode < 0.6) [chosen, oneByOne] = [[...events].reverse(), true]; // every child before its parent
  else chosen = shuffle(events, random);
  if (random() < 0.4) chosen = [...chosen, ...chosen.filter(() => random() < 0.5)];
  while (chosen.length > 0) {
    const take = oneByOne ? 1 : 1 + Math.floor(random() * chosen.length);
    const { waiting } = await target.ingest(chosen.splice(0, take).map(({ cid, bytes }) => ({ cid, bytes })));
    expect(waiting).toBeGreaterThanOrEqual(0);
  }
}

class Scenario {
  readonly writes: AckedWrite[] = [];
  readonly held: EventTransfer[][];
  #order = 0;
  #w = 0;

  constructor(
    readonly replicas: Ledger[],
    readonly reopeners: Array<() => Promise<Ledger>>,
  ) {
    this.held = replicas.map(() => []);
  }

  #body(r: number, spec: DocSpec): Record<string, unknown> {
    return { w: this.#w++, r, n: spec.n };
  }

  #record(id: string, clock: string[], body: Record<string, unknown> | null): void {
    // A local commit's event has every head as a parent, so it is the only head after it.
    expect(clock).toHaveLength(1);
    this.writes.push({ id, event: clock[0]!, order: this.#order++, body });
  }

  /**
   * The event holding a write whose commit raced a merge (its clock may
   * list the merged heads too): the head whose block carries this body.
   */
  async #eventOf(ledger: Ledger, id: string, body: Record<string, unknown>): Promise<string> {
    for (const head of ledger.heads()) {
      const { bytes } = await ledger.eventBlock(head);
      const value = dagCbor.decode<{ o: Array<{ i: string; d: { w?: unknown } | null }> }>(bytes);
      if (value.o.some((op) => op.i === id && op.d?.w === body.w)) return head; // `w` is unique per write
    }
    throw new Error(`no head of the replica holds the write ${JSON.stringify(body)} to ${id}`);
  }

  /** Own writes must read back at once: a replica's newest write follows all it has seen. */
  async #expectReadsOwn(ledger: Ledger, written: Map<string, Record<string, unknown> | null>): Promise<void> {
    for (const [id, body] of written) {
      if (body === null) expect(await codeOf(ledger.get(id))).toBe("NOT_FOUND");
      else expect(await ledger.get(id, { conflicts: true })).toEqual({ _id: id, ...body, _conflicts: [] });
    }
  }

  async run(command: Command): Promise<void> {
    const n = this.replicas.length;
    switch (command.t) {
      case "put": {
        const r = command.r % n;
        const body = this.#body(r, command.doc);
        const result = await this.replicas[r]!.put({ _id: command.doc.id, ...body });
        this.#record(command.doc.id, result.clock, body);
        return this.#expectReadsOwn(this.replicas[r]!, new Map([[command.doc.id, body]]));
      }
      case "putAll":
      case "bulk": {
        const r = command.r % n;
        const ledger = this.replicas[r]!;
        const bodies = command.docs.map((spec) => this.#body(r, spec));
        const docs = command.docs.map((spec, i) => ({ _id: spec.id, ...bodies[i] }));
        if (command.t === "bulk") {
          const { ids, clock } = await ledger.bulk(docs);
          expect(ids).toEqual(command.docs.map((d) => d.id));
          bodies.forEach((body, i) => this.#record(command.docs[i]!.id, clock, body));
        } else {
          const results = await Promise.all(docs.map((doc) => ledger.put(doc)));
          bodies.forEach((body, i) => this.#record(command.docs[i]!.id, results[i]!.clock, body));
        }
        return this.#expectReadsOwn(ledger, new Map(command.docs.map((d, i) => [d.id, bodies[i]!])));
      }
      case "del": {
        const r = command.r % n;
        const result = await this.replicas[r]!.del(command.id);
        this.#record(command.id, result.clock, null);
        return this.#expectReadsOwn(this.replicas[r]!, new Map([[command.id, null]]));
      }
      case "send": {
        const from = command.from % n;
        const to = command.to % n;
        if (from === to) return;
        const events = await missingEvents(this.replicas[from]!, this.replicas[to]!);
        if (command.hold) this.held[to]!.push(...events);
        else await deliver(this.replicas[to]!, events, rng(command.seed));
        return;
      }
      case "release": {
        const to = command.to % n;
        await deliver(this.replicas[to]!, this.held[to]!.splice(0), rng(command.seed));
        return;
      }
      case "race": {
        // A local write and a merge on the same replica at once: they must serialize cleanly.
        const from = command.from % n;
        const to = command.to % n;
        if (from === to) return;
        const events = await missingEvents(this.replicas[from]!, this.replicas[to]!);
        const body = this.#body(to, command.doc);
        const [result] = await Promise.all([
          this.replicas[to]!.put({ _id: command.doc.id, ...body }),
          this.replicas[to]!.ingest(events.map(({ cid, bytes }) => ({ cid, bytes }))),
        ]);
        expect(result.clock.length).toBeGreaterThanOrEqual(1);
        this.writes.push({ id: command.doc.id, event: await this.#eventOf(this.replicas[to]!, command.doc.id, body), order: this.#order++, body });
        return;
      }
      case "read":
        return expectConsistentReads(this.replicas[command.r % n]!);
      case "restart": {
        const r = command.r % n;
        const before = await this.replicas[r]!.root();
        const heads = this.replicas[r]!.heads();
        await this.replicas[r]!.close();
        this.replicas[r] = await this.reopeners[r]!();
        expect(await this.replicas[r]!.root()).toBe(before);
        expect(this.replicas[r]!.heads()).toEqual(heads);
        return;
      }
    }
  }

  /** What every replica must hold for `id`, from causality alone (see module docs). */
  expected(graph: EventGraph, id: string): { winner: AckedWrite; conflicts: AckedWrite[] } | undefined {
    // Per event, the write to `id` that event kept: the last one issued.
    const perEvent = new Map<string, AckedWrite>();
    for (const w of this.writes) if (w.id === id && (perEvent.get(w.event)?.order ?? -1) < w.order) perEvent.set(w.event, w);
    const events = [...perEvent.keys()];
    const maximal = events.filter((e) => !events.some((other) => other !== e && graph.happenedBefore(e, other)));
    if (maximal.length === 0) return undefined;
    maximal.sort((a, b) => graph.compareBestFirst(a, b));
    const [winner, ...losers] = maximal.map((e) => perEvent.get(e)!);
    return { winner: winner!, conflicts: losers.filter((w) => w.body !== null) };
  }
}

/**
 * One replica's views agree with each other at any moment: the change feed
 * lists each document once with its current value, and the (incrementally
 * maintained) field index holds exactly the live documents with that field.
 */
async function expectConsistentReads(ledger: Ledger): Promise<void> {
  const all = (await ledger.allDocs({ includeDeleted: true })).rows;
  const changes = (await ledger.changes()).rows;
  const byId = (rows: typeof all) => [...rows].sort((a, b) => (a.key < b.key ? -1 : 1));
  expect(byId(changes)).toEqual(all);
  const live = all.map((row) => row.value).filter((doc): doc is Doc => !("_deleted" in doc));
  const expected = live.map((doc) => [doc._id, doc.n]).sort((a, b) => Number(a[1]) - Number(b[1]) || (a[0]! < b[0]! ? -1 : 1));
  expect((await ledger.query("n")).rows.map((row) => [row.id, row.key])).toEqual(expected);
}

async function snapshot(ledger: Ledger) {
  const docs: Record<string, Doc | string> = {};
  for (const id of IDS) docs[id] = await readWithConflicts(ledger, id);
  return {
    root: await ledger.root(),
    heads: ledger.heads(),
    allDocs: (await ledger.allDocs({ includeDeleted: true })).rows,
    docs,
    query: (await ledger.query("n")).rows,
    queryDesc: (await ledger.query("n", { descending: true, includeDocs: true })).rows,
  };
}

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
    expect(await b.ingest([{ cid: child.cid, bytes: child.bytes }])).toEqual({ applied: 0, waiting: 1 });
    expect(await b.hasEvent(child.cid)).toBe(false);
    expect(await codeOf(b.get("q"))).toBe("NOT_FOUND");
    expect(await b.ingest([{ cid: parent.cid, bytes: parent.bytes }])).toEqual({ applied: 2, waiting: 0 });
    expect(await b.get("q")).toEqual({ _id: "q", v: 2 });
    expect(await b.root()).toBe(await a.root());
    // Ingesting what is already there changes nothing.
    expect(await b.ingest([child, parent].map(({ cid, bytes }) => ({ cid, bytes })))).toEqual({ applied: 0, waiting: 0 });
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
