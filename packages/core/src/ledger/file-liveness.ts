/**
 * Which files the documents here still refer to, asked about files whose
 * blocks a sync point does not have: a holder puts back only files some
 * version of some document here refers to (`sync/file-transfer.ts`, when
 * it verifies what it uploaded), so blocks a compaction deleted at the
 * point stay deleted instead of being uploaded again by every device that
 * still holds the file until it compacts too; and a replica does not wait
 * for a file it wanted once no document refers to it any more.
 *
 * The first answer about a file reads the documents (every one for a dead
 * file, O(n) like `compact()`; up to the first that refers to it for a
 * live one). Answers are remembered with the log position they held at,
 * and later questions read only the events applied since:
 * - a dead file becomes live again only through an event that refers to it;
 * - a live file becomes dead only through an event that changes the
 *   document it was found in (it may be in others too: then it is read
 *   again, and found there);
 * - a whiteout takes events back, which may do either without an event:
 *   {@link FileLiveness.forget} drops every answer then.
 * So the questions a transfer asks on every pass, or on every poll while a
 * device holds a collected file until its own compaction, cost the events
 * since the last one, not the ledger's size.
 *
 * Erring is allowed in one direction only: a file taken for live when it
 * is dead is uploaded again (the next compaction collects it); a file
 * taken for dead when it is live would be withheld from every other
 * device, so anything in doubt is read again.
 *
 * @module
 */

/** What {@link FileLiveness} reads from its ledger. */
export interface LivenessSource {
  /** Events applied so far: log positions `1..eventCount()`. */
  eventCount(): number;
  /**
   * Those of `among` (manifest CIDs, text) some version of some document
   * refers to, each with the id of one such document; reads documents until
   * all are found, or all of them.
   */
  scan(among: ReadonlySet<string>): Promise<Map<string, string>>;
  /** What the events at log positions `from..to` touch: the files their ops refer to, and the documents they change. */
  touchedIn(from: number, to: number): Promise<{ files: Set<string>; docs: Set<string> }>;
}

/** A remembered answer: dead, or live in document `doc`, as of `position` events. */
type Answer = { readonly position: number; readonly doc?: string };

/** See the module docs. */
export class FileLiveness {
  readonly #source: LivenessSource;
  /** Answers by file: `doc` set for a live file, absent for a dead one. */
  readonly #answers = new Map<string, Answer>();
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
    const live = new Set<string>();
    const unsure = new Set<string>();
    const settled = new Map<string, Answer>();
    const known = [...asked].filter((root) => this.#answers.has(root));
    for (const root of asked) if (!this.#answers.has(root)) unsure.add(root);
    if (known.length > 0) {
      const since = known.reduce((low, root) => Math.min(low, this.#answers.get(root)!.position), now);
      const touched = since < now ? await this.#source.touchedIn(since + 1, now) : { files: new Set<string>(), docs: new Set<string>() };
      for (const root of known) {
        const answer = this.#answers.get(root)!;
        const changed = answer.doc === undefined ? touched.files.has(root) : touched.docs.has(answer.doc);
        if (changed) {
          unsure.add(root);
        } else {
          settled.set(root, { ...answer, position: now });
          if (answer.doc !== undefined) live.add(root);
        }
      }
    }
    if (unsure.size > 0) {
      const found = await this.#source.scan(unsure);
      for (const root of unsure) {
        const doc = found.get(root);
        settled.set(root, { position: now, ...(doc !== undefined && { doc }) });
        if (doc !== undefined) live.add(root);
      }
    }
    if (generation === this.#generation) for (const [root, answer] of settled) this.#answers.set(root, answer);
    return live;
  }

  /** Drops every answer (a whiteout took events back): the next question about each file reads the documents again. */
  forget(): void {
    this.#generation++;
    this.#answers.clear();
  }
}
