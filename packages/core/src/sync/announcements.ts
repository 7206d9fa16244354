/**
 * What an attachment knows of the announcements at its remote, and which
 * of them it may collect once superseded. Shared by the inbox (which reads
 * them), the outbox (which adds its own) and the collector (which deletes
 * covered ones).
 *
 * Collection rule: an announcement whose heads are all applied here is
 * covered by any newer announcement of the current heads. Each writer
 * collects its own covered announcements, so concurrent writers do not
 * all delete the same ones; another writer's covered announcement is
 * collected only once it was seen {@link FOREIGN_COLLECT_AGE_MS} ago, so
 * announcements of a writer that went away are still collected.
 *
 * @module
 */
import type { CID } from "multiformats/cid";

/** Another writer's covered announcement is collected once it was seen this long ago. */
export const FOREIGN_COLLECT_AGE_MS = 10_000;

/** One announcement as the attachment remembers it (inline content is not kept). */
export interface KnownAnnouncement {
  readonly heads: readonly CID[];
  readonly bundles: readonly string[];
  /** Pushed by this attachment. */
  readonly own: boolean;
  /** The device whose signed statement names its heads (its writer). */
  readonly author: string;
  /** When it was first accepted here (ms since epoch). */
  readonly firstSeen: number;
}

/** See the module docs. */
export class AnnouncementBook {
  readonly #known = new Map<string, KnownAnnouncement>();

  /** True when `name` was read (or pushed) and is not known to be gone. */
  has(name: string): boolean {
    return this.#known.has(name);
  }

  /** Remembers an announcement read or pushed. */
  add(name: string, heads: readonly CID[], bundles: readonly string[], own: boolean, author: string): void {
    const previous = this.#known.get(name);
    this.#known.set(name, { heads, bundles, own: own || previous?.own === true, author, firstSeen: previous?.firstSeen ?? Date.now() });
  }

  /** Forgets an announcement that is gone from the remote. */
  forget(name: string): void {
    this.#known.delete(name);
  }

  /** Forgets every announcement not in `present` (a full listing). */
  keepOnly(present: ReadonlySet<string>): void {
    for (const name of [...this.#known.keys()]) if (!present.has(name)) this.#known.delete(name);
  }

  /** Every known announcement. */
  entries(): IterableIterator<[string, KnownAnnouncement]> {
    return this.#known.entries();
  }

  /** Announcements this attachment may collect if covered (its own, or others' seen long enough ago). */
  collectable(now = Date.now()): Array<[string, KnownAnnouncement]> {
    const oldEnough = now - FOREIGN_COLLECT_AGE_MS;
    return [...this.#known].filter(([, a]) => a.own || a.firstSeen <= oldEnough);
  }
}
