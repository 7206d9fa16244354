/**
 * Which files the documents here still refer to, asked about files a sync
 * point no longer holds (`sync/file-transfer.ts`, when it verifies what it
 * uploaded). A holder puts back only files some version of some document
 * here refers to: blocks a compaction deleted at the point stay deleted,
 * instead of being uploaded again by every device that still holds the
 * file until it compacts too.
 *
 * The first answer about a file reads every document (O(n), like
 * `compact()`). A file found dead is remembered with the log position it
 * was dead at, and later questions about it read only the events applied
 * since: a dead file becomes live again only through an event that refers
 * to it, or through a whiteout (which takes back events, so it may bring
 * back an older version): {@link FileLiveness.forget} drops every answer
 * then. So a device that holds a collected file until its own compaction
 * does not read its whole ledger on every poll.
 *
 * Erring is allowed in one direction only: a file taken for live when it
 * is dead is uploaded again (the next compaction collects it); a file
 * taken for dead when it is live would be withheld from every other
 * device, so anything in doubt counts as live.
 *
 * @module
 */

/** What {@link FileLiveness} reads from its ledger. */
export interface LivenessSource {
  /** Events applied so far: log positions `1..eventCount()`. */
  eventCount(): number;
  /** Those of `among` (manifest CIDs, text) some version of some document refers to; reads every document. */
  scan(among: ReadonlySet<string>): Promise<Set<string>>;
  /** Manifest CIDs (text) the ops of the events at log positions `from..to` refer to. */
  referencedIn(from: number, to: number): Promise<Set<string>>;
}

/** See the module docs. */
export class FileLiveness {
  readonly #source: LivenessSource;
  /** Files found dead, each with the number of events applied when it was. */
  readonly #dead = new Map<string, number>();
  /** Bumped by {@link forget}: an answer worked out across a bump is not remembered. */
  #generation = 0;

  constructor(source: LivenessSource) {
    this.#source = source;
  }

  /** Those of `roots` (manifest CIDs, text) some version of some document here refers to. */
  async live(roots: Iterable<string>): Promise<Set<string>> {
    const generation = this.#generation;
    const now = this.#source.eventCount();
    const asked = new Set(roots);
    const known = [...asked].filter((root) => this.#dead.has(root));
    const unsure = new Set([...asked].filter((root) => !this.#dead.has(root)));
    const stillDead: string[] = [];
    if (known.length > 0) {
      const since = Math.min(...known.map((root) => this.#dead.get(root)!));
      const referenced = since < now ? await this.#source.referencedIn(since + 1, now) : new Set<string>();
      for (const root of known) {
        if (referenced.has(root)) unsure.add(root);
        else stillDead.push(root);
      }
    }
    const live = unsure.size > 0 ? await this.#source.scan(unsure) : new Set<string>();
    for (const root of unsure) if (!live.has(root)) stillDead.push(root);
    if (generation === this.#generation) {
      for (const root of live) this.#dead.delete(root);
      for (const root of stillDead) this.#dead.set(root, now);
    }
    return live;
  }

  /** Drops every answer (a whiteout took events back): the next question about each file reads everything again. */
  forget(): void {
    this.#generation++;
    this.#dead.clear();
  }
}
