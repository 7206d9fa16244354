/**
 * FileLiveness: which files a holder may put back at a sync point. A file
 * found dead is checked after that against the events since, not by
 * reading every document again; a whiteout forgets every answer; anything
 * in doubt counts as live.
 */
import { describe, expect, it } from "vitest";
import { FileLiveness, type LivenessSource } from "../src/ledger/file-liveness.js";

/** A ledger in miniature: a log of events, each naming the files its ops refer to, and the files documents refer to now. */
class FakeLedger implements LivenessSource {
  readonly log: string[][] = [];
  readonly live = new Set<string>();
  scans = 0;
  eventsRead = 0;
  #pause: Promise<void> | undefined;

  eventCount(): number {
    return this.log.length;
  }
  async scan(among: ReadonlySet<string>): Promise<Set<string>> {
    this.scans++;
    await this.#pause;
    return new Set([...among].filter((root) => this.live.has(root)));
  }
  async referencedIn(from: number, to: number): Promise<Set<string>> {
    this.eventsRead += to - from + 1;
    return new Set(this.log.slice(from - 1, to).flat());
  }
  /** The next scans wait until the returned function is called. */
  pauseScans(): () => void {
    let resume!: () => void;
    this.#pause = new Promise((resolve) => (resume = resolve));
    return () => {
      this.#pause = undefined;
      resume();
    };
  }
}

describe("FileLiveness", () => {
  it("reads every document once per dead file, then only the events since", async () => {
    const ledger = new FakeLedger();
    ledger.log.push(["f1"], ["f2"], []);
    ledger.live.add("f2");
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f2"]));
    expect(ledger.scans).toBe(1);
    // Asked again with nothing new: no read at all.
    expect(await liveness.live(["f1"])).toEqual(new Set());
    expect([ledger.scans, ledger.eventsRead]).toEqual([1, 0]);
    // Events since that do not name f1: only they are read.
    ledger.log.push(["f3"], []);
    expect(await liveness.live(["f1"])).toEqual(new Set());
    expect([ledger.scans, ledger.eventsRead]).toEqual([1, 2]);
    // An event names f1 again (a concurrent edit that kept it): read everything, and it is live.
    ledger.log.push(["f1"]);
    ledger.live.add("f1");
    expect(await liveness.live(["f1"])).toEqual(new Set(["f1"]));
    expect(ledger.scans).toBe(2);
  });

  it("an event naming a dead file makes it asked about again, and it stays dead if no document keeps it", async () => {
    const ledger = new FakeLedger();
    ledger.log.push(["f1"]);
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1"])).toEqual(new Set());
    ledger.log.push(["f1"]); // e.g. an edit that lost to a deletion
    expect(await liveness.live(["f1"])).toEqual(new Set());
    expect(ledger.scans).toBe(2);
    expect(await liveness.live(["f1"])).toEqual(new Set());
    expect(ledger.scans).toBe(2);
  });

  it("forget() (a whiteout) drops every answer, also one worked out while it happened", async () => {
    const ledger = new FakeLedger();
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1"])).toEqual(new Set());
    // A whiteout takes an event back: f1's document is back with no new event.
    ledger.live.add("f1");
    liveness.forget();
    expect(await liveness.live(["f1"])).toEqual(new Set(["f1"]));
    // An answer that a whiteout overtook is returned but not remembered.
    ledger.live.clear();
    const resume = ledger.pauseScans();
    const asked = liveness.live(["f9"]);
    liveness.forget();
    resume();
    expect(await asked).toEqual(new Set());
    const scans = ledger.scans;
    await liveness.live(["f9"]);
    expect(ledger.scans).toBe(scans + 1);
  });
});
