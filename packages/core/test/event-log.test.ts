/**
 * Event segments and the event log: the segment codec round-trips any run of
 * events (cutting a parent CID only where it is the previous event's), the
 * log reads events wherever they are stored, also while a pack is being
 * written, and a ledger packs checkpointed events, reads them back after a
 * reopen, serves them to replication and to sync, and reports a damaged
 * segment as INTEGRITY.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CID } from "multiformats/cid";
import { open, openFileStore, type Ledger } from "../src/index.node.js";
import { createEvent, type EventBlock } from "../src/crdt/event.js";
import { decodeSegment, encodeSegment, eventCid } from "../src/ledger/event-segment.js";
import { APART_BYTES, EventLog, SEGMENT_EVENTS } from "../src/ledger/event-log.js";
import { openMemoryStore } from "../src/store/memory.js";
import { eventKey, segmentKey } from "../src/ledger/keys.js";
import { missingEvents } from "./helpers/replicate.js";
import { Peers, docsOf } from "./helpers/sync-peers.js";

/** A made-up author for events built by hand. */
const AUTHOR = new Uint8Array(16).fill(7);

/** A chain of `n` events, each the only parent of the next (a lone writer's commits). */
async function chain(n: number, from: CID[] = []): Promise<EventBlock[]> {
  const events: EventBlock[] = [];
  let parents = from;
  for (let i = 0; i < n; i++) {
    const event = await createEvent(parents, i + 1, [{ i: `doc-${i % 7}`, d: { n: i, title: `todo ${i}` }, s: [] }], AUTHOR);
    events.push(event);
    parents = [event.cid];
  }
  return events;
}

/** A chain of `n` events whose `big(i)` ones carry a document of over {@link APART_BYTES}. */
async function mixedChain(n: number, big: (i: number) => boolean): Promise<EventBlock[]> {
  const events: EventBlock[] = [];
  let parents: CID[] = [];
  for (let i = 0; i < n; i++) {
    const body = big(i) ? "x".repeat(APART_BYTES) : `todo ${i}`;
    const event = await createEvent(parents, i + 1, [{ i: `doc-${i % 7}`, d: { n: i, body }, s: [] }], AUTHOR);
    events.push(event);
    parents = [event.cid];
  }
  return events;
}

describe("event segments", () => {
  it("round-trip a chain, cutting each parent that is the previous event", async () => {
    const events = await chain(50);
    const segment = await encodeSegment(events.map((e) => e.bytes));
    const decoded = await decodeSegment(segment, "test segment");
    expect(decoded.bytes).toEqual(events.map((e) => e.bytes));
    expect(decoded.cids.map(String)).toEqual(events.map((e) => e.cid.toString()));
    const whole = events.reduce((sum, e) => sum + e.bytes.length, 0);
    // 49 parents of 36 bytes are cut; framing is a few bytes per event.
    expect(segment.length).toBeLessThan(whole - 49 * 36 + 3 * 50);
  });

  it("keep events whole whose parents are elsewhere (merges, foreign events, the first of a segment)", async () => {
    const a = await chain(3);
    const b = await chain(3, [a[0]!.cid]);
    const merge = await createEvent([a[2]!.cid, b[2]!.cid], 9, [{ i: "m", d: null, s: [a[1]!.cid] }], AUTHOR);
    const events = [b[0]!, a[1]!, a[2]!, merge, b[1]!, b[2]!];
    const decoded = await decodeSegment(await encodeSegment(events.map((e) => e.bytes)), "test segment");
    expect(decoded.bytes).toEqual(events.map((e) => e.bytes));
    expect(decoded.cids.map(String)).toEqual(events.map((e) => e.cid.toString()));
  });

  it("round-trip any bytes, wherever the previous CID appears in them, some stored apart (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ head: fc.uint8Array({ minLength: 1, maxLength: 60 }), tail: fc.uint8Array({ maxLength: 60 }), cite: fc.boolean(), apart: fc.boolean() }), { minLength: 1, maxLength: 20 }),
        async (parts) => {
          const events: Uint8Array[] = [];
          for (const { head, tail, cite } of parts) {
            const previous = events.length > 0 && cite ? (await eventCid(events[events.length - 1]!)).bytes : new Uint8Array(0);
            events.push(Uint8Array.from([...head, ...previous, ...tail]));
          }
          const given = events.map((bytes, i) => (parts[i]!.apart ? undefined : bytes));
          const decoded = await decodeSegment(await encodeSegment(given), "test segment");
          expect(decoded.bytes).toEqual(given);
          const cids = await Promise.all(given.map(async (bytes) => (bytes === undefined ? undefined : (await eventCid(bytes)).toString())));
          expect(decoded.cids.map((cid) => cid?.toString())).toEqual(cids);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("mark events stored apart, and store the event after one whole", async () => {
    const events = await chain(6);
    const apart = new Set([0, 2, 3]);
    const given = events.map((e, i) => (apart.has(i) ? undefined : e.bytes));
    const segment = await encodeSegment(given, events.map((e, i) => (apart.has(i) ? undefined : e.cid.bytes)));
    const decoded = await decodeSegment(segment, "test segment");
    expect(decoded.bytes).toEqual(given);
    expect(decoded.cids.map((cid) => cid?.toString())).toEqual(events.map((e, i) => (apart.has(i) ? undefined : e.cid.toString())));
    // Two bytes an apart entry; event 4 follows one and so keeps its parent; event 5 cuts it.
    expect(segment.length).toBeGreaterThan(events[1]!.bytes.length + events[4]!.bytes.length + events[5]!.bytes.length - 36);
    await expect(encodeSegment([new Uint8Array(0)])).rejects.toThrow(TypeError);
  });

  it("of the first format (no events apart) are still read", async () => {
    const events = await chain(5);
    const segment = await encodeSegment(events.map((e) => e.bytes));
    const first = Uint8Array.from([1, ...segment.subarray(1)]);
    const decoded = await decodeSegment(first, "test segment");
    expect(decoded.bytes).toEqual(events.map((e) => e.bytes));
    // An empty entry means "stored apart" only since format 2.
    await expect(decodeSegment(Uint8Array.from([1, 1, 0, 0]), "test segment")).rejects.toMatchObject({ code: "INTEGRITY" });
    expect((await decodeSegment(Uint8Array.from([2, 1, 0, 0]), "test segment")).bytes).toEqual([undefined]);
  });

  it("are INTEGRITY when malformed or of an unknown format", async () => {
    const good = await encodeSegment((await chain(3)).map((e) => e.bytes));
    const cases: Uint8Array[] = [
      Uint8Array.from([3, ...good.subarray(1)]), // unknown format
      good.subarray(0, good.length - 1), // truncated entry
      Uint8Array.from([...good, 0]), // trailing byte
      Uint8Array.from([2, 1, 1, 1, 0]), // the first entry cuts a previous event
      Uint8Array.from([2, 2, 0, 0, 1, 1, 0]), // an entry cuts the event stored apart before it
      Uint8Array.from([2, 1, 1, 0]), // an empty entry that claims a cut
      Uint8Array.from([2, 0x80]), // truncated count
    ];
    for (const bytes of cases) await expect(decodeSegment(bytes, "test segment")).rejects.toMatchObject({ code: "INTEGRITY" });
  });
});

describe("event log", () => {
  it("reads an event missed under ev/<n> from its segment once a pack racing the read lands", async () => {
    const store = await openMemoryStore(`memory://event-log-${Math.random()}`);
    const log = new EventLog(store, 0, "test log");
    const events = await chain(SEGMENT_EVENTS + 2);
    await store.write({ put: log.puts(1, events) });
    const plan = (await log.planPack(events.length))!;
    expect(plan.packed).toBe(SEGMENT_EVENTS);
    let land!: () => void;
    const landed = new Promise<void>((resolve) => (land = resolve));
    // The batch is applied at once, but the write is acknowledged only later.
    const packing = log.pack(plan, async () => {
      await store.write({ put: plan.put, del: plan.del });
      await landed;
    });
    const reading = log.range(1, SEGMENT_EVENTS + 2);
    land();
    await packing;
    const read = await reading;
    expect(read.map((e) => e.bytes)).toEqual(events.map((e) => e.bytes));
    expect(read.map((e) => e.cid.toString())).toEqual(events.map((e) => e.cid.toString()));
    expect(await store.list("ev/")).toEqual([eventKey(SEGMENT_EVENTS + 1), eventKey(SEGMENT_EVENTS + 2)]);
    expect(await store.list("sg/")).toEqual([segmentKey(1)]);
    expect(await log.read(SEGMENT_EVENTS + 3)).toBeUndefined();
  });

  it("hands out copies, and a number written again replaces what was kept for it", async () => {
    const store = await openMemoryStore(`memory://event-log-${Math.random()}`);
    const log = new EventLog(store, 0, "test log");
    const events = await chain(SEGMENT_EVENTS + 1);
    const other = await chain(2, [events[0]!.cid]);
    await store.write({ put: log.puts(1, events.slice(0, 3)) });
    log.remember(1, events.slice(0, 3));
    // Numbers 2 and 3 written again (a commit that failed after its write leaves them to the next).
    await store.write({ put: log.puts(2, other) });
    log.remember(2, other);
    await store.write({ put: log.puts(4, events.slice(3)) });
    log.remember(4, events.slice(3));
    const expected = [events[0]!, ...other, ...events.slice(3)];
    const first = (await log.read(1))!;
    first.bytes.fill(0);
    expect((await log.read(2))!.cid.toString()).toBe(other[0]!.cid.toString());
    const plan = (await log.planPack(expected.length))!;
    await log.pack(plan, () => store.write({ put: plan.put, del: plan.del }));
    const packed = (await log.read(1))!;
    packed.bytes.fill(0);
    const read = await log.range(1, expected.length);
    expect(read.map((e) => e.bytes)).toEqual(expected.map((e) => e.bytes));
    expect(read.map((e) => e.cid.toString())).toEqual(expected.map((e) => e.cid.toString()));
  });

  it("keeps big events apart: not packed, not kept in memory, read from their own records", async () => {
    const store = await openMemoryStore(`memory://event-log-${Math.random()}`);
    const log = new EventLog(store, 0, "test log");
    const events = await mixedChain(SEGMENT_EVENTS + 3, (i) => i % 5 === 1);
    const big = events.flatMap((e, i) => (e.bytes.length >= APART_BYTES ? [i + 1] : []));
    expect(big.length).toBeGreaterThan(20);
    // Some written and remembered (kept in memory), the rest only written (read back to pack).
    await store.write({ put: log.puts(1, events) });
    log.remember(1, events.slice(0, 60));
    const reads: string[] = [];
    const get = store.get.bind(store);
    store.get = (key) => (reads.push(key), get(key));
    const plan = (await log.planPack(events.length))!;
    expect(plan.del).toEqual(events.slice(0, SEGMENT_EVENTS).flatMap((e, i) => (big.includes(i + 1) ? [] : [eventKey(i + 1)])));
    // Events kept in memory are not read back, big or small.
    expect(reads.filter((key) => key < eventKey(61))).toEqual([]);
    await log.pack(plan, () => store.write({ put: plan.put, del: plan.del }));
    expect(await store.list("ev/")).toEqual([...big.filter((n) => n <= SEGMENT_EVENTS), SEGMENT_EVENTS + 1, SEGMENT_EVENTS + 2, SEGMENT_EVENTS + 3].map(eventKey));
    const [segment] = plan.put.find(([key]) => key === segmentKey(1))!.slice(1) as [Uint8Array];
    expect(segment.length).toBeLessThan(APART_BYTES * 2);
    for (const reader of [log, new EventLog(store, SEGMENT_EVENTS, "test log, reopened")]) {
      const read = await reader.range(1, events.length);
      expect(read.map((e) => e.bytes)).toEqual(events.map((e) => e.bytes));
      expect(read.map((e) => e.cid.toString())).toEqual(events.map((e) => e.cid.toString()));
    }
    // A big event missing from its own record is INTEGRITY, not absent.
    await store.write({ del: [eventKey(big[0]!)] });
    await expect(new EventLog(store, SEGMENT_EVENTS, "test log").read(big[0]!)).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  it("refuses a packed count that is not whole segments", async () => {
    const store = await openMemoryStore(`memory://event-log-${Math.random()}`);
    expect(() => new EventLog(store, 5, "test log")).toThrow(expect.objectContaining({ code: "INTEGRITY" }) as Error);
  });
});

describe("a ledger's packed events", () => {
  let dir: string;
  const opened: Ledger[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "hearth-events-"));
  });
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const options = (): { store: string; keyring: string } => ({ store: `file://${dir}/db`, keyring: `file://${dir}/keyring` });
  const openLedger = async (): Promise<Ledger> => {
    const db = await open("events", options());
    opened.push(db);
    return db;
  };
  const storedKeys = async (prefix: string): Promise<string[]> => {
    const raw = await openFileStore(join(dir, "db"));
    try {
      return await raw.list(prefix);
    } finally {
      await raw.close();
    }
  };

  it("are packed at checkpoints, read back after reopening, and replicate", async () => {
    const db = await openLedger();
    const clocks: string[][] = [];
    for (let i = 0; i < 300; i++) clocks.push((await db.put({ _id: `d${i}`, i })).clock);
    await db.close();
    expect(await storedKeys("sg/")).toEqual([segmentKey(1), segmentKey(129)]);
    expect(await storedKeys("ev/")).toHaveLength(300 - 2 * SEGMENT_EVENTS);

    const again = await openLedger();
    // Events 1 and 130 are in segments: readable by CID, with their parents.
    const first = await again.eventBlock(clocks[0]![0]!);
    expect(first.parents).toEqual([]);
    const middle = await again.eventBlock(clocks[129]![0]!);
    expect(middle.parents).toEqual(clocks[128]);
    const page = await again.changes(clocks[9]!);
    expect(page.rows.map((r) => r.key)).toEqual(Array.from({ length: 290 }, (_, i) => `d${i + 10}`));

    // The stragglers left unpacked are packed with later events at the next checkpoint. (A close
    // after only a few changes writes a tail instead of one, `ledger/tail.ts`: reading the root
    // folds the trees, so this close checkpoints.)
    for (let i = 300; i < 400; i++) await again.put({ _id: `d${i}`, i });
    await again.root();
    await again.close();
    expect(await storedKeys("sg/")).toHaveLength(3);
    expect(await storedKeys("ev/")).toHaveLength(400 - 3 * SEGMENT_EVENTS);

    const third = await openLedger();
    const copy = await open("copy", { store: `memory://copy-${Math.random()}`, keyring: "memory://copy-keys" });
    opened.push(copy);
    await copy.ingest(await missingEvents(third, copy));
    expect(await copy.root()).toBe(await third.root());
    expect((await copy.allDocs()).rows).toHaveLength(400);
  });

  it("big commits stay in their own records, read back after reopening, and replicate", async () => {
    const db = await openLedger();
    const clocks: string[][] = [];
    const bulk = (i: number): Array<{ _id: string; i: number; body: string }> =>
      Array.from({ length: 40 }, (_, j) => ({ _id: `b${i}-${j}`, i, body: `document ${j} of bulk ${i}, `.repeat(8) }));
    for (let i = 0; i < SEGMENT_EVENTS + 10; i++) {
      const result = i % 3 === 0 ? await db.bulk(bulk(i)) : await db.put({ _id: `d${i}`, i });
      clocks.push(result.clock);
    }
    await db.close();
    const bigs = Math.ceil(SEGMENT_EVENTS / 3);
    expect(await storedKeys("sg/")).toEqual([segmentKey(1)]);
    expect(await storedKeys("ev/")).toHaveLength(bigs + 10);

    const again = await openLedger();
    expect((await again.eventBlock(clocks[0]![0]!)).parents).toEqual([]);
    expect((await again.eventBlock(clocks[3]![0]!)).parents).toEqual(clocks[2]);
    expect((await again.eventBlock(clocks[4]![0]!)).parents).toEqual(clocks[3]);
    const bulks = Math.ceil((SEGMENT_EVENTS + 10) / 3);
    expect((await again.allDocs()).rows).toHaveLength(bulks * 40 + (SEGMENT_EVENTS + 10 - bulks));
    const copy = await open("copy", { store: `memory://copy-${Math.random()}`, keyring: "memory://copy-keys" });
    opened.push(copy);
    await copy.ingest(await missingEvents(again, copy));
    expect(await copy.root()).toBe(await again.root());
  });

  it("reach a new replica through a sync point, big commits stored apart among them", async () => {
    const peers = new Peers("file");
    try {
      const a = await peers.open("a");
      for (let i = 0; i < 2 * SEGMENT_EVENTS + 5; i++) {
        if (i % 5 === 2) await a.bulk(Array.from({ length: 30 }, (_, j) => ({ _id: `b${i}-${j}`, body: `bulk ${i}, document ${j}; `.repeat(20) })));
        else await a.put({ _id: `d${i}`, i });
      }
      await a.close();
      const reopened = await peers.reopen("a");
      const point = peers.syncPoint("file");
      await (await peers.join(reopened, point)).synced({ timeoutMs: 10_000 });
      const b = await peers.open("b");
      await (await peers.join(b, point, reopened)).synced({ timeoutMs: 10_000 });
      expect(await docsOf(b)).toEqual(await docsOf(reopened));
      expect(await b.root()).toBe(await reopened.root());
    } finally {
      await peers.closeAll();
    }
  });

  it("a damaged segment is INTEGRITY on read, never a wrong event", async () => {
    const db = await openLedger();
    const clocks: string[][] = [];
    for (let i = 0; i < SEGMENT_EVENTS + 1; i++) clocks.push((await db.put({ _id: `d${i}`, i })).clock);
    await db.close();
    const raw = await openFileStore(join(dir, "db"));
    const key = segmentKey(1);
    const bytes = (await raw.get(key))!;
    bytes[bytes.length >> 1]! ^= 0x40;
    await raw.write({ put: [[key, bytes]] });
    await raw.close();
    const again = await openLedger();
    await expect(again.eventBlock(clocks[5]![0]!)).rejects.toMatchObject({ code: "INTEGRITY" });
    // The unpacked event after the segment is unaffected.
    expect((await again.eventBlock(clocks[SEGMENT_EVENTS]![0]!)).parents).toEqual(clocks[SEGMENT_EVENTS - 1]);
  });
});
