/**
 * The model behind the convergence property test: commands a test can
 * generate (writes on replicas, deliveries of events between them, restarts),
 * a {@link Scenario} that runs them while recording every acknowledged
 * write, and the oracle that says from causality alone what each document
 * must converge to.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { expect } from "vitest";
import { HearthError } from "../../src/errors.js";
import type { Ledger } from "../../src/ledger/ledger.js";
import type { Doc } from "../../src/ledger/types.js";
import type { EventGraph } from "./event-graph.js";
import { missingEvents, type EventTransfer } from "./replicate.js";
import { rng } from "./rng.js";

/** The HearthError code a promise rejects with (undefined if it resolves); tests assert codes, not messages. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (err instanceof HearthError) return err.code;
    throw err;
  }
}

/** A document read with conflicts, or the error code reading it gave. */
export async function readWithConflicts(ledger: Ledger, id: string): Promise<Doc | string> {
  try {
    return await ledger.get(id, { conflicts: true });
  } catch (err) {
    if (err instanceof HearthError) return err.code;
    throw err;
  }
}

/** A small id pool, so random writes collide and make real conflicts. */
export const IDS = ["a", "b", "c", "d", "e", "f"] as const;

/** A generated document: its id and a small field for the index. */
export type DocSpec = { id: string; n: number };

/** One step of a generated scenario; replica numbers are taken modulo the replica count. */
export type Command =
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
/** Generates {@link Command}s, weighted towards writes and deliveries. */
export const commandArb: fc.Arbitrary<Command> = fc.oneof(
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
export interface AckedWrite {
  readonly id: string;
  readonly event: string;
  /** Order of issue on its replica; the later of two writes in one event wins. */
  readonly order: number;
  readonly body: Record<string, unknown> | null;
}


/** A shuffled copy (Fisher–Yates) driven by `random`. */
export function shuffle<T>(items: T[], random: () => number): T[] {
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
export async function deliver(target: Ledger, events: EventTransfer[], random: () => number): Promise<void> {
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

/** Runs commands on a set of replicas, recording every acknowledged write for the oracle. */
export class Scenario {
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
export async function expectConsistentReads(ledger: Ledger): Promise<void> {
  const all = (await ledger.allDocs({ includeDeleted: true })).rows;
  const changes = (await ledger.changes()).rows;
  const byId = (rows: typeof all) => [...rows].sort((a, b) => (a.key < b.key ? -1 : 1));
  expect(byId(changes)).toEqual(all);
  const live = all.map((row) => row.value).filter((doc): doc is Doc => !("_deleted" in doc));
  const expected = live.map((doc) => [doc._id, doc.n]).sort((a, b) => Number(a[1]) - Number(b[1]) || (a[0]! < b[0]! ? -1 : 1));
  expect((await ledger.query("n")).rows.map((row) => [row.id, row.key])).toEqual(expected);
}

/** Everything that must be identical across converged replicas. */
export async function snapshot(ledger: Ledger) {
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
