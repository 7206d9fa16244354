/**
 * Event exchange between ledgers in one process, for tests that need
 * replicas to meet without a sync engine: find what one replica has that
 * another lacks, and hand it over through the ledger's replication hooks
 * (`heads`, `eventBlock`, `hasEvent`, `ingest`).
 *
 * @module
 */
import type { Ledger } from "../../src/ledger/ledger.js";

/** An encoded event as `ingest` takes it, plus its parents for ordering. */
export interface EventTransfer {
  readonly cid: string;
  readonly bytes: Uint8Array;
  readonly parents: readonly string[];
}

/**
 * The events `source` has applied that `target` has not, parents before
 * children. Walks back from `source`'s heads and stops at events `target`
 * has: a ledger applies events in causal order, so everything behind an
 * event it has is there too.
 */
export async function missingEvents(source: Ledger, target: Ledger): Promise<EventTransfer[]> {
  const found = new Map<string, EventTransfer>();
  const stack = [...source.heads()];
  while (stack.length > 0) {
    const cid = stack.pop()!;
    if (found.has(cid) || (await target.hasEvent(cid))) continue;
    const block = await source.eventBlock(cid);
    found.set(cid, block);
    stack.push(...block.parents);
  }
  return causalOrder([...found.values()]);
}

/** Sorts events so that each comes after those of its parents that are in the list. */
export function causalOrder(events: EventTransfer[]): EventTransfer[] {
  const byCid = new Map(events.map((e) => [e.cid, e]));
  const done = new Set<string>();
  const out: EventTransfer[] = [];
  const visit = (event: EventTransfer): void => {
    if (done.has(event.cid)) return;
    done.add(event.cid);
    for (const parent of event.parents) {
      const p = byCid.get(parent);
      if (p !== undefined) visit(p);
    }
    out.push(event);
  };
  for (const event of events) visit(event);
  return out;
}

/** Sends `target` everything `source` has that it lacks; resolves with what `ingest` reported. */
export async function pushEvents(source: Ledger, target: Ledger): Promise<{ applied: number; waiting: number }> {
  const events = await missingEvents(source, target);
  return target.ingest(events.map(({ cid, bytes }) => ({ cid, bytes })));
}

/**
 * Full exchange: repeats pairwise pushes until a round moves nothing, so
 * every replica ends with the union of all events (two rounds suffice for
 * any set; the loop just makes that explicit).
 */
export async function syncAll(replicas: readonly Ledger[]): Promise<void> {
  for (let round = 0; ; round++) {
    let moved = 0;
    for (const source of replicas) {
      for (const target of replicas) {
        if (source !== target) moved += (await pushEvents(source, target)).applied;
      }
    }
    if (moved === 0) return;
    if (round > replicas.length + 1) throw new Error(`syncAll: events still moving after ${round + 1} rounds`);
  }
}
