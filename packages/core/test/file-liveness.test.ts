/**
 * FileLiveness: which files a holder may put back at a sync point, and a
 * replica still waits for. Answers are remembered and checked after that
 * against the events since, not by reading the documents again; a whiteout
 * forgets every answer; anything in doubt is read again.
 */
import { describe, expect, it } from "vitest";
import { FileLiveness, type LivenessSource } from "../src/ledger/file-liveness.js";

/** One event of the fake log: the documents it changes, and the files its ops refer to. */
interface FakeEvent {
  readonly docs: string[];
  readonly files: string[];
}

/** A ledger in miniature: a log of events, and which document refers to each file now. */
class FakeLedger implements LivenessSource {
  readonly log: FakeEvent[] = [];
  /** File → the document that refers to it now. */
  readonly refs = new Map<string, string>();
  scans = 0;
  eventsRead = 0;
  #pause: Promise<void> | undefined;

  eventCount(): number {
    return this.log.length;
  }
  async scan(among: ReadonlySet<string>): Promise<Map<string, string>> {
    this.scans++;
    await this.#pause;
    return new Map([...among].filter((root) => this.refs.has(root)).map((root) => [root, this.refs.get(root)!]));
  }
  async touchedIn(from: number, to: number): Promise<{ files: Set<string>; docs: Set<string> }> {
    this.eventsRead += to - from + 1;
    const events = this.log.slice(from - 1, to);
    return { files: new Set(events.flatMap((e) => e.files)), docs: new Set(events.flatMap((e) => e.docs)) };
  }
  /** Appends an event: `doc` now refers to `file` (or to nothing). */
  write(doc: string, file?: string): void {
    for (const [root, by] of this.refs) if (by === doc) this.refs.delete(root);
    if (file) this.refs.set(file, doc);
    this.log.push({ docs: [doc], files: file ? [file] : [] });
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
  it("reads the documents once per file, then only the events since", async () => {
    const ledger = new FakeLedger();
    ledger.write("d1", "f1");
    ledger.write("d2", "f2");
    ledger.write("d1"); // f1 let go
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f2"]));
    expect(ledger.scans).toBe(1);
    // Asked again with nothing new: nothing read at all.
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f2"]));
    expect([ledger.scans, ledger.eventsRead]).toEqual([1, 0]);
    // Events since that touch neither: only they are read.
    ledger.write("d3", "f3");
    ledger.write("d4");
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f2"]));
    expect([ledger.scans, ledger.eventsRead]).toEqual([1, 2]);
  });

  it("a dead file is read again once an event refers to it; a live one once its document changes", async () => {
    const ledger = new FakeLedger();
    ledger.write("d1", "f1");
    ledger.write("d2", "f2");
    ledger.write("d1");
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f2"]));
    // An edit keeps f1 again (a concurrent edit that won), and d2 lets f2 go.
    ledger.write("d5", "f1");
    ledger.write("d2", "f9");
    expect(await liveness.live(["f1", "f2"])).toEqual(new Set(["f1"]));
    expect(ledger.scans).toBe(2);
    // A document other than the one f1 was found in changes: f1 stays live, nothing read.
    ledger.write("d6", "f6");
    expect(await liveness.live(["f1"])).toEqual(new Set(["f1"]));
    expect(ledger.scans).toBe(2);
  });

  it("an event naming a dead file that no document keeps leaves it dead", async () => {
    const ledger = new FakeLedger();
    ledger.write("d1", "f1");
    ledger.write("d1");
    const liveness = new FileLiveness(ledger);
    expect(await liveness.live(["f1"])).toEqual(new Set());
    ledger.log.push({ docs: ["d1"], files: ["f1"] }); // e.g. an edit that lost to a deletion
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
    ledger.refs.set("f1", "d1");
    liveness.forget();
    expect(await liveness.live(["f1"])).toEqual(new Set(["f1"]));
    // An answer that a whiteout overtook is returned but not remembered.
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
