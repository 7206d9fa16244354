/**
 * The collector: deleting announcements that newer ones supersede, so a
 * sync point keeps a bounded number of them however long writers write.
 *
 * Deletes run beside the sync loop, a few at a time, and only once enough
 * have piled up: each delete wakes every watcher, so deleting on every
 * push would double the remote traffic per write. Best effort: a failed
 * delete (the remote failing, or closed under it) is retried at a later
 * push, and never fails the sync.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import type { Remote } from "../remote/types.js";
import type { AnnouncementBook } from "./announcements.js";
import { forEachLimit } from "./concurrency.js";
import type { SyncLogger } from "./logger.js";

/** Superseded announcements are deleted once at least this many have piled up. */
const COLLECT_AFTER = 8;
/** Deletes of superseded announcements in flight at once. */
const COLLECT_CONCURRENCY = 4;

/** See the module docs. */
export class Collector {
  #running: Promise<void> | undefined;

  constructor(
    private readonly remote: Remote,
    private readonly announcements: AnnouncementBook,
    /** True when every head is applied here. */
    private readonly allKnown: (heads: readonly CID[]) => Promise<boolean>,
    private readonly logger: SyncLogger,
  ) {}

  /**
   * After a push announced `by`: starts deleting the announcements it
   * covers, unless too few have piled up or a round is still running.
   */
  async afterPush(by: string): Promise<void> {
    if (this.#running) return;
    const candidates = this.announcements.collectable().filter(([name]) => name !== by);
    // Too few to collect: spare every push the (asynchronous) checks.
    if (candidates.length < COLLECT_AFTER) return;
    const covered: string[] = [];
    for (const [name, value] of candidates) if (await this.allKnown(value.heads)) covered.push(name);
    if (covered.length < COLLECT_AFTER) return;
    this.#running = this.#collect(covered).finally(() => (this.#running = undefined));
  }

  /** Resolves when no round is running. */
  async settled(): Promise<void> {
    await this.#running;
  }

  async #collect(covered: string[]): Promise<void> {
    // Announcements another writer deleted meanwhile (the watch said so) are skipped.
    const still = covered.filter((name) => this.announcements.has(name));
    let deleted = 0;
    await forEachLimit(still, COLLECT_CONCURRENCY, async (name) => {
      try {
        await this.remote.delete(name);
        this.announcements.forget(name);
        deleted++;
      } catch {
        // Left for a later push.
      }
    });
    this.logger("collect", { deleted, of: still.length });
  }
}
