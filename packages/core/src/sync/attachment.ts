/**
 * The sync engine: one {@link Attachment} per (ledger, remote) pair, pushing
 * and pulling until both hold the same heads, for as long as it is attached.
 *
 * Push (the outbox): the ledger's own event log *is* the outbox. A cursor
 * `pushedThrough` (persisted per sync point) says every local event at or
 * below that position is stored at the remote; everything above it is
 * pushed as one or more bundles, then one announcement naming them, then
 * the cursor moves. So writes made offline, while the remote fails, or
 * before a crash are pushed later, in order, and an announcement is never
 * published before its bundles are stored.
 *
 * Pull: list announcements, open the unseen ones, fetch the bundles they
 * name, verify and merge them (the ledger persists and notifies at once).
 * A watch that names its changes spares the listing: the engine opens just
 * the announcements named (with the values the remote passed along, if
 * any), and merges events inlined in them without fetching their bundle,
 * so on the sync server a write reaches a watching reader with no request
 * at all. It lists again whenever it may have missed something: at start,
 * after a nameless notification (a reconnect), after a failure, on every
 * poll, and when `synced()` asks.
 * When an announced head is still unknown after that — its announcement was
 * collected, or a bundle came from a writer whose announcement was lost —
 * the engine lists every bundle and fetches the unseen ones. A late joiner
 * does that on its first pull. Bundles already merged are remembered per
 * sync point, so a restart does not download them again.
 *
 * One loop per attachment runs push → pull → push; it is woken by local
 * commits, by the remote's watch (or a poll timer where the remote cannot
 * watch) and by `synced()`. Transient remote failures put the attachment
 * `offline` and retry with capped exponential backoff; data that fails
 * verification is rejected (`INTEGRITY` in the status), never merged, and
 * does not stop the rest.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import { readEventBytes, type EventBlock } from "../crdt/event.js";
import type { Remote, RemoteChange } from "../remote/types.js";
import { fingerprintOf } from "../crypto/fingerprint.js";
import type { RefusedEvent, ReplicaPort } from "./port.js";
import type { PointKeys } from "./point-keys.js";
import {
  BUNDLE_PREFIX, HEAD_PREFIX, openAnnouncement, openBundle, sealAnnouncement, sealBundle, type AnnouncementValue, type SealContext,
} from "./protocol.js";
import { Emitter, type AttachmentEvents, type SyncError, type SyncState, type SyncStatus } from "./status.js";

/** Most events in one bundle; bigger pushes become several bundles under one announcement. */
const MAX_BUNDLE_EVENTS = 2_000;
/** A bundle and its announcement go in one `putAll` up to this size; bigger ones as two puts. */
const MAX_BATCH_BYTES = 1024 * 1024;
/** Superseded announcements are deleted once at least this many have piled up. */
const COLLECT_AFTER = 8;
/** Deletes of superseded announcements in flight at once. */
const COLLECT_CONCURRENCY = 4;
/** Another writer's covered announcement is collected once it was seen this long ago. */
const FOREIGN_COLLECT_AGE_MS = 10_000;
/** After an announcement arrived before one it depends on, the engine looks again this soon. */
const RECHECK_MS = 100;
/** Remote reads in flight at once during a pull. */
const FETCH_CONCURRENCY = 8;
/** Backoff after transient failures: first delay and cap (ms). */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;
/** Default deadline of {@link Attachment.synced}. */
const DEFAULT_SYNCED_TIMEOUT_MS = 30_000;
/** Poll interval for remotes that cannot watch. */
const DEFAULT_POLL_MS = 1_000;
/** Safety poll interval for remotes that watch. */
const WATCHED_POLL_MS = 10_000;

/** Options of `Ledger.attach`. */
export interface AttachOptions {
  /** A share code from a member (`attachment.createShareCode()`), for a device not yet invited. */
  readonly shareCode?: string;
  /** A passphrase protecting the sync point key (set by whoever creates the sync point with one). */
  readonly passphrase?: string;
  /** Poll interval for remotes without `watch` (ms, default 1000). */
  readonly pollMs?: number;
}

/** Options of {@link Attachment.synced}. */
export interface SyncedOptions {
  /** Reject with `TIMEOUT` after this long (default 30 s). */
  readonly timeoutMs?: number;
}

/** Options of {@link Attachment.rotateKey}. */
export interface RotateOptions {
  /** Devices (public keys or fingerprints) that must not receive the new key. */
  readonly revoke?: readonly string[];
}

interface Waiter {
  readonly afterCycle: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A ledger attached to a remote. Obtain one with `db.attach(url)`.
 *
 * @example
 * ```ts
 * const a = await db.attach("file:///shared/todos");
 * a.on("status", (s) => console.log(s.state, s.pending, s.behind));
 * await a.synced({ timeoutMs: 5000 });
 * await a.detach();
 * ```
 */
export class Attachment {
  /** The remote's URL: the sync point's name in messages. */
  readonly url: string;
  readonly #port: ReplicaPort;
  readonly #remote: Remote;
  readonly #keys: PointKeys;
  readonly #ctx: SealContext;
  readonly #metaPrefix: string;
  readonly #events = new Emitter<AttachmentEvents>();
  readonly #pollMs: number;
  readonly #stops: Array<() => void> = [];
  readonly #onDetach: () => Promise<void>;

  #pushedThrough = 0;
  /** Events merged from this remote (they need no push back to it). */
  readonly #fromRemote = new Set<string>();
  /** Announcements read and accepted, by name. */
  readonly #announcements = new Map<string, AnnouncementValue>();
  /** Announcements this attachment pushed (it collects them). */
  readonly #ownAnnouncements = new Set<string>();
  /** When each announcement of another writer was first accepted here (ms since epoch). */
  readonly #firstSeen = new Map<string, number>();
  /** Bundles whose events this replica holds (merged or pushed by it). */
  readonly #seenBundles = new Set<string>();
  /** Bundles fetched whose events are not all applied yet (parents missing): held in memory by the ledger. */
  readonly #held = new Map<string, CID[]>();
  /** Remote items that failed verification, by name; never fetched again. */
  readonly #rejected = new Map<string, HearthError>();
  /** Items sealed with a key of this point this device lacks; retried when keys change. */
  readonly #lacking = new Map<string, HearthError>();
  /** Heads known to be applied locally (cache for the synced check). */
  readonly #knownHeads = new Set<string>();
  /** Announcements a watch said were put since the last pull, with their value when it came along. */
  #hints = new Map<string, Uint8Array | undefined>();
  /** The next pull lists announcements instead of trusting {@link #hints} (something may have been missed). */
  #listNeeded = true;
  #fullScanDone = false;
  /** Superseded announcements being deleted, beside the loop (one batch at a time). */
  #collecting: Promise<void> | undefined;
  /** Heads unknown after the last listing pull: still unknown at the next one, they call for a bundle scan. */
  #unknownBefore = new Set<string>();
  /** Wakes the loop to settle an out-of-order notification (see {@link #recheckSoon}). */
  #recheckTimer: ReturnType<typeof setTimeout> | undefined;
  /** True while this attachment's own merge is being applied. */
  #merging = false;

  #state: SyncState = "connecting";
  #behind = 0;
  #lastSyncAt: number | undefined;
  #error: SyncError | undefined;

  #requested = false;
  #running: Promise<void> | undefined;
  #cycles = 0;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];
  #detached: Promise<void> | undefined;

  /** @internal Built by `Ledger.attach`; use that. */
  constructor(port: ReplicaPort, remote: Remote, keys: PointKeys, pointId: string, options: AttachOptions, onDetach: () => Promise<void>) {
    this.url = remote.url;
    this.#port = port;
    this.#remote = remote;
    this.#keys = keys;
    this.#ctx = {
      pointUrl: remote.url,
      keyFor: (fp) => keys.keyFor(fp),
      ...(port.cipher && { cipher: port.cipher }),
      ...(port.compression && { compression: port.compression }),
    };
    this.#metaPrefix = `sy/${pointId}/`;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#onDetach = onDetach;
  }

  /** The sync point id under which per-remote bookkeeping is kept: a digest of the remote URL. */
  static async pointId(remoteUrl: string): Promise<string> {
    return fingerprintOf(new TextEncoder().encode(`hearth/sync-point/${remoteUrl}`));
  }

  /**
   * Loads the bookkeeping, starts listening, and runs the first sync in the
   * background. @internal
   */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (err) {
      // Leave nothing behind: no listener, no timer, no half-started loop.
      for (const stop of this.#stops.splice(0)) stop();
      this.#detached = Promise.resolve();
      throw err;
    }
  }

  async #start(): Promise<void> {
    const cursor = await this.#port.meta.get(this.#metaPrefix + "pushed");
    if (cursor) this.#pushedThrough = Number(new TextDecoder().decode(cursor)) || 0;
    for (const key of await this.#port.meta.list(this.#metaPrefix + "b/")) this.#seenBundles.add(BUNDLE_PREFIX + key.slice(this.#metaPrefix.length + 2));
    if (this.#pushedThrough > 0 && !(await this.#remoteHoldsAnything())) {
      // The remote was wiped (a memory remote in a new process, a deleted
      // directory): what the cursor says was pushed is gone, so push it all again.
      this.#pushedThrough = 0;
      this.#seenBundles.clear();
    }
    // Local commits (and merges from other attachments) wake the loop; this
    // attachment's own merges do not: they need no push back, and a cycle
    // for them would only list the remote again.
    this.#stops.push(this.#port.onApplied(() => {
      if (!this.#merging) this.#kick();
    }));
    let pollMs = this.#pollMs;
    if (this.#remote.supports.watch && this.#remote.watch) {
      this.#stops.push(this.#remote.watch(HEAD_PREFIX, (changes) => this.#onRemoteChange(changes)));
      // A watch can drop notifications (a socket that reconnects, a lost
      // fs event); a slow poll bounds how long that can go unnoticed.
      pollMs = Math.max(pollMs * 10, WATCHED_POLL_MS);
    }
    // Each interval is drawn anew from ±25 % around pollMs, so the many
    // clients of one server (often started together) do not all list at
    // the same moment, every time.
    let timer: ReturnType<typeof setTimeout> | undefined;
    let polling = true;
    const schedule = (): void => {
      timer = setTimeout(() => {
        if (!polling) return;
        this.#listNeeded = true;
        this.#kick();
        schedule();
      }, pollMs * (0.75 + Math.random() / 2));
      (timer as { unref?: () => void }).unref?.();
    };
    schedule();
    this.#stops.push(() => {
      polling = false;
      clearTimeout(timer);
    });
    this.#kick();
  }

  // ---------------------------------------------------------------- public API

  /** The current status (a snapshot). */
  status(): SyncStatus {
    return {
      state: this.#state,
      pending: Math.max(0, this.#port.eventCount() - this.#pushedThrough),
      behind: this.#behind,
      rejected: this.#rejected.size + this.#lacking.size,
      ...(this.#lastSyncAt !== undefined && { lastSyncAt: this.#lastSyncAt }),
      ...(this.#error && { error: this.#error }),
    };
  }

  /**
   * Listens to `status` (every state or progress change) or `change`
   * (remote events merged). Returns a function that stops listening.
   */
  on<K extends keyof AttachmentEvents>(event: K, fn: (payload: AttachmentEvents[K]) => void): () => void {
    if (event !== "status" && event !== "change") throw new TypeError(`unknown attachment event ${JSON.stringify(event)}; use "status" or "change"`);
    return this.#events.on(event, fn);
  }

  /**
   * Resolves once a sync cycle that started after this call ended with local
   * and remote holding the same heads: everything local is stored at the
   * remote and everything announced there is merged here.
   * @throws HearthError `TIMEOUT` (with the status in the message) after `timeoutMs`; `STORE_CLOSED` if detached
   */
  synced(options: SyncedOptions = {}): Promise<void> {
    this.#assertAttached();
    const timeoutMs = options.timeoutMs ?? DEFAULT_SYNCED_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new HearthError("INVALID_ARGUMENT", `timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const s = this.status();
        reject(new HearthError(
          "TIMEOUT",
          `not in sync with ${this.url} after ${timeoutMs} ms: state ${s.state}, ${s.pending} local events to push, ${s.behind} remote heads to merge` +
            (s.error ? `, last error ${s.error.code}: ${s.error.message}` : ""),
        ));
      }, timeoutMs);
      const waiter: Waiter = {
        afterCycle: this.#cycles,
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      this.#waiters.push(waiter);
      // A change made elsewhere just before this call may not have been
      // notified yet: look at the remote itself.
      this.#listNeeded = true;
      this.#kick();
    });
  }

  /** Wraps this sync point's keys for another device (see `Ledger.invite`). @internal */
  invite(publicKey: string): Promise<void> {
    this.#assertAttached();
    return this.#keys.invite(publicKey);
  }

  /**
   * Creates a one-time share code: whoever attaches with it
   * (`attach(url, { shareCode })`) receives this sync point's keys. Hand it
   * over out of band; it works once.
   */
  createShareCode(): Promise<string> {
    this.#assertAttached();
    return this.#keys.createShareCode();
  }

  /**
   * Rotates the sync point key: a new key, wrapped for every member device
   * except `revoke`d ones; new writes use it, old data stays readable by
   * members, and revoked devices cannot read what is written from now on.
   */
  async rotateKey(options: RotateOptions = {}): Promise<void> {
    this.#assertAttached();
    await this.#keys.rotate(options.revoke ?? []);
    this.#kick();
  }

  /**
   * Stops syncing. Unless the remote is failing, local writes not yet pushed
   * are pushed first (for at most `flushTimeoutMs`, default 5 s); whatever
   * is still unpushed after that stays in the outbox and is pushed at the
   * next attach. Idempotent.
   */
  detach(options: { flushTimeoutMs?: number } = {}): Promise<void> {
    this.#detached ??= (async () => {
      for (const stop of this.#stops.splice(0)) stop();
      const flushing = this.#retryTimer === undefined && this.#state !== "error";
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      clearTimeout(this.#recheckTimer);
      this.#recheckTimer = undefined;
      await this.#running?.catch(() => undefined);
      await this.#collecting;
      if (flushing) await withDeadline(this.#pushAll(), options.flushTimeoutMs ?? 5_000).catch(() => undefined);
      for (const waiter of this.#waiters.splice(0)) {
        waiter.reject(new HearthError("STORE_CLOSED", `detached from ${this.url} before it was in sync`));
      }
      this.#events.clear();
      await this.#onDetach();
    })();
    return this.#detached;
  }

  // ---------------------------------------------------------------- the loop

  #kick(): void {
    if (this.#detached) return;
    this.#requested = true;
    // While backing off after a failure, the retry timer runs the next cycle.
    if (this.#retryTimer !== undefined) return;
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      if (this.#requested && this.#retryTimer === undefined) this.#kick();
    });
  }

  async #run(): Promise<void> {
    while (this.#requested && !this.#detached) {
      this.#requested = false;
      const cycle = ++this.#cycles;
      try {
        const inSync = await this.#cycle();
        this.#failures = 0;
        if (this.#error && this.#error.code !== "INTEGRITY" && this.#error.code !== "KEY_REQUIRED") this.#error = undefined;
        this.#setState(inSync ? "idle" : "syncing");
        if (inSync) {
          this.#lastSyncAt = Date.now();
          this.#settleWaiters(cycle);
        }
      } catch (err) {
        if (this.#detached) return;
        this.#fail(err);
        return;
      }
    }
  }

  /** One push → pull → push round; true if local and remote then hold the same heads. */
  async #cycle(): Promise<boolean> {
    if (this.#state !== "connecting") this.#setState("syncing");
    await this.#push();
    await this.#pull();
    await this.#push();
    if (this.#pushedThrough < this.#port.eventCount()) this.#requested = true;
    // Data sealed with a key this device lacks is remote state it does not
    // hold: never call that "in sync" (it shows as KEY_REQUIRED instead).
    return this.#behind === 0 && this.#lacking.size === 0 && this.#pushedThrough >= this.#port.eventCount();
  }

  #fail(err: unknown): void {
    // Hints taken by the failed cycle may not have been acted on.
    this.#listNeeded = true;
    const transient = isHearthError(err, "STORAGE_FAILED");
    this.#error = isHearthError(err)
      ? { code: err.code, message: err.message }
      : { code: "STORAGE_FAILED", message: `sync with ${this.url} failed unexpectedly: ${String(err)}` };
    if (isHearthError(err, "STORE_CLOSED")) {
      // The ledger closed under us: nothing more to do.
      this.#setState("error");
      return;
    }
    this.#setState(transient ? "offline" : "error");
    this.#failures++;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failures - 1)) * (0.5 + Math.random() / 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#kick();
    }, delay);
    (this.#retryTimer as { unref?: () => void }).unref?.();
  }

  #settleWaiters(cycle: number): void {
    const ready = this.#waiters.filter((w) => w.afterCycle < cycle);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.afterCycle >= cycle);
    for (const waiter of ready) waiter.resolve();
  }

  #setState(state: SyncState): void {
    this.#state = state;
    this.#events.emit("status", this.status());
  }

  // ---------------------------------------------------------------- push

  /**
   * Pushes the local events above the cursor as of now: bundles first, then
   * one announcement, then the cursor. One round only: writes that arrive
   * meanwhile wait for the next cycle, so a steady stream of local writes
   * can never starve the pull (the cycle is push → pull → push).
   */
  async #push(): Promise<void> {
    // One synchronous read: these heads are exactly the events up to `count`.
    const count = this.#port.eventCount();
    const heads = this.#port.heads();
    if (this.#pushedThrough >= count) return;
    const covered = await this.#coveredAnnouncements();
    const bundles: string[] = [];
    // The last bundle is stored together with the announcement (one round
    // trip where the remote has putAll); earlier ones as they are sealed.
    let last: { name: string; bytes: Uint8Array; events: Uint8Array[] } | undefined;
    for (let from = this.#pushedThrough + 1; from <= count; ) {
      const events = await this.#port.eventsFrom(from, Math.min(MAX_BUNDLE_EVENTS, count - from + 1));
      if (events.length === 0) throw new HearthError("INTEGRITY", `local event log of ledger ${JSON.stringify(this.#port.name)} ends before position ${from}`);
      from = events[events.length - 1]!.position + 1;
      const mine = events.filter((e) => !this.#fromRemote.has(e.cid.toString())).map((e) => e.bytes);
      if (mine.length === 0) continue;
      const bundle = await sealBundle(this.#ctx, this.#keys.writeKey(), mine);
      if (last) await this.#remote.put(last.name, last.bytes);
      last = { ...bundle, events: mine };
      bundles.push(bundle.name);
    }
    let announced: string | undefined;
    if (last) {
      const head = await sealAnnouncement(this.#ctx, this.#keys.writeKey(), heads, bundles, last.events);
      if (this.#remote.putAll && last.bytes.length + head.bytes.length <= MAX_BATCH_BYTES) {
        await this.#remote.putAll([[last.name, last.bytes], [head.name, head.bytes]]);
      } else {
        await this.#remote.put(last.name, last.bytes);
        await this.#remote.put(head.name, head.bytes);
      }
      announced = head.name;
      this.#announcements.set(head.name, { v: 1, h: heads, b: bundles }); // its inlined events need not be kept
      this.#ownAnnouncements.add(head.name);
      for (const h of heads) this.#knownHeads.add(h.toString());
    }
    this.#pushedThrough = count;
    for (const b of bundles) this.#seenBundles.add(b);
    await this.#port.meta.write([
      [this.#metaPrefix + "pushed", new TextEncoder().encode(String(count))],
      ...bundles.map((b) => [this.#seenKey(b), EMPTY] as const),
    ]);
    // Collect in batches: each delete wakes every watcher, so deleting on
    // every push would double the remote traffic per write. The deletes run
    // beside the loop: the next push need not wait for them.
    if (announced !== undefined && covered.length >= COLLECT_AFTER && !this.#collecting && !this.#detached) {
      this.#collecting = this.#collect(covered, announced).finally(() => (this.#collecting = undefined));
    }
    this.#events.emit("status", this.status());
  }

  /** Pushes until the outbox is empty (detach's final flush). */
  async #pushAll(): Promise<void> {
    while (this.#pushedThrough < this.#port.eventCount()) await this.#push();
  }

  /** Announcements whose heads are all applied here: any announcement of the current heads covers them. */
  /**
   * Announcements this replica may collect: covered (all their heads are
   * applied here, so the next announcement of the current heads covers
   * them) and either its own or seen at least {@link FOREIGN_COLLECT_AGE_MS}
   * ago. Each writer collecting its own keeps concurrent writers from
   * deleting the same ones; the age rule still collects after a writer
   * that went away.
   */
  async #coveredAnnouncements(): Promise<string[]> {
    const oldEnough = Date.now() - FOREIGN_COLLECT_AGE_MS;
    const candidates: [string, AnnouncementValue][] = [];
    for (const entry of this.#announcements) {
      if (this.#ownAnnouncements.has(entry[0]) || (this.#firstSeen.get(entry[0]) ?? 0) <= oldEnough) candidates.push(entry);
    }
    // Too few to collect: spare every push the (asynchronous) checks.
    if (candidates.length < COLLECT_AFTER) return [];
    const covered: string[] = [];
    for (const [name, value] of candidates) if (await this.#allKnown(value.h)) covered.push(name);
    return covered;
  }

  /**
   * Deletes announcements superseded by `by`, a few at a time. Best effort:
   * a failed delete (the remote failing, or closed under it) is retried at
   * a later push, and never fails the sync.
   */
  async #collect(covered: string[], by: string): Promise<void> {
    // Announcements another writer deleted meanwhile (the watch said so) are skipped.
    const still = covered.filter((name) => name !== by && this.#announcements.has(name));
    await forEachLimit(still, COLLECT_CONCURRENCY, async (name) => {
      try {
        await this.#remote.delete(name);
        this.#forgetAnnouncement(name);
      } catch {
        // Left for a later push.
      }
    });
  }

  // ---------------------------------------------------------------- pull

  /** Drops an announcement that is gone from the remote. */
  #forgetAnnouncement(name: string): void {
    this.#announcements.delete(name);
    this.#ownAnnouncements.delete(name);
    this.#firstSeen.delete(name);
  }

  /** A watch notification: note what it names (or that a listing is needed) and run a cycle. */
  #onRemoteChange(changes: readonly RemoteChange[] | undefined): void {
    if (changes === undefined) this.#listNeeded = true;
    else {
      for (const change of changes) {
        if (!change.name.startsWith(HEAD_PREFIX)) continue;
        if (change.op === "put") this.#hints.set(change.name, change.bytes);
        else {
          this.#hints.delete(change.name);
          this.#forgetAnnouncement(change.name);
        }
      }
    }
    this.#kick();
  }

  async #pull(): Promise<void> {
    const hints = this.#hints;
    this.#hints = new Map();
    let candidates: Iterable<string> = hints.keys();
    const listing = this.#listNeeded;
    if (listing) {
      this.#listNeeded = false;
      const listed = await this.#remote.list(HEAD_PREFIX);
      const present = new Set(listed);
      for (const name of this.#announcements.keys()) if (!present.has(name)) this.#forgetAnnouncement(name);
      candidates = listed;
    }
    const fresh = [...candidates].filter((n) => !this.#announcements.has(n) && !this.#rejected.has(n));
    const inline = new Map<string, Uint8Array[]>();
    await forEachLimit(fresh, FETCH_CONCURRENCY, async (name) => {
      const bytes = hints.get(name) ?? (await this.#remote.get(name));
      if (bytes === undefined) return; // collected meanwhile; a newer one covers it
      const value = await this.#verified(name, () => openAnnouncement(this.#ctx, name, bytes));
      if (!value) return;
      this.#announcements.set(name, value.i ? { v: 1, h: value.h, b: value.b } : value);
      if (!this.#firstSeen.has(name)) this.#firstSeen.set(name, Date.now());
      if (value.i && this.#wants(value.b[0]!)) inline.set(value.b[0]!, value.i);
    });
    const wanted = new Set<string>();
    for (const value of this.#announcements.values()) for (const b of value.b) if (this.#wants(b)) wanted.add(b);
    if (!this.#fullScanDone) await this.#scanBundles(wanted);
    await this.#fetchAndMerge(wanted, inline);
    const unknown = await this.#unknownHeads();
    this.#behind = unknown.size;
    const stillUnknown = [...unknown].some((h) => this.#unknownBefore.has(h));
    if (listing) this.#unknownBefore = unknown;
    if (this.#behind > 0 && this.#fullScanDone && !(listing && stillUnknown)) {
      // Announcements arrive in any order, and a bundle just stored may not
      // be announced yet: what is missing is most likely on its way. Look
      // again shortly, listing then; scan only for heads still unknown.
      this.#listNeeded = true;
      this.#recheckSoon();
    } else if (this.#behind > 0 && this.#fullScanDone) {
      // An announced head is still not here: its bundles were announced by
      // an announcement since collected, or not at all. List them all.
      const more = new Set<string>();
      await this.#scanBundles(more);
      if (more.size > 0) {
        await this.#fetchAndMerge(more);
        this.#behind = (await this.#unknownHeads()).size;
      }
    }
  }

  /** Runs a cycle after {@link RECHECK_MS} (one pending at a time), unless something runs one sooner. */
  #recheckSoon(): void {
    if (this.#recheckTimer !== undefined || this.#detached) return;
    this.#recheckTimer = setTimeout(() => {
      this.#recheckTimer = undefined;
      this.#kick();
    }, RECHECK_MS);
    (this.#recheckTimer as { unref?: () => void }).unref?.();
  }

  async #scanBundles(into: Set<string>): Promise<void> {
    for (const name of await this.#remote.list(BUNDLE_PREFIX)) if (this.#wants(name)) into.add(name);
    this.#fullScanDone = true;
  }

  #wants(bundle: string): boolean {
    return !this.#seenBundles.has(bundle) && !this.#held.has(bundle) && !this.#rejected.has(bundle) && !this.#lacking.has(bundle);
  }

  /**
   * Fetches, verifies and merges bundles; bad ones are rejected, the rest
   * merged in one ingest. A bundle whose events came inlined in its
   * announcement is not fetched (unless those events fail their CIDs).
   */
  async #fetchAndMerge(names: Set<string>, inline: ReadonlyMap<string, Uint8Array[]> = new Map()): Promise<void> {
    if (names.size === 0) return;
    const blocks: EventBlock[] = [];
    const fetched = new Map<string, CID[]>();
    await forEachLimit([...names], FETCH_CONCURRENCY, async (name) => {
      const inlined = inline.get(name);
      if (inlined) {
        const events = await Promise.all(inlined.map((e) => readEventBytes(e))).catch(() => undefined);
        if (events) {
          blocks.push(...events);
          fetched.set(name, events.map((e) => e.cid));
          return;
        }
      }
      const bytes = await this.#remote.get(name);
      if (bytes === undefined) return; // listed by an announcement but not stored: the writer pushes it again
      const bundle = await this.#verified(name, () => openBundle(this.#ctx, name, bytes));
      if (!bundle) return;
      const events = await this.#verified(name, () => Promise.all(bundle.e.map((e) => readEventBytes(e))));
      if (!events) return;
      blocks.push(...events);
      fetched.set(name, events.map((e) => e.cid));
    });
    if (blocks.length > 0) {
      for (const block of blocks) this.#fromRemote.add(block.cid.toString());
      this.#merging = true;
      let applied: number;
      let refusedEvents: readonly RefusedEvent[];
      try {
        ({ applied, refusedEvents } = await this.#port.ingest(blocks));
      } finally {
        this.#merging = false;
      }
      if (applied > 0) this.#events.emit("change", { applied });
      // A bundle holding a refused event is rejected as a whole: it is never merged complete.
      for (const event of refusedEvents) {
        for (const [name, cids] of fetched) {
          if (!cids.some((cid) => cid.equals(event.cid))) continue;
          fetched.delete(name);
          this.#reject(name, event.error);
        }
      }
    }
    // A bundle counts as merged only once all its events are applied: events
    // still waiting for parents live in memory only, so after a restart the
    // bundle must be fetched again. Until then it is "held": not fetched
    // again in this session, and re-checked after every merge (parents that
    // arrive later apply its events).
    for (const [name, cids] of fetched) this.#held.set(name, cids);
    const merged: string[] = [];
    for (const [name, cids] of this.#held) if (await this.#allApplied(cids)) merged.push(name);
    for (const name of merged) {
      this.#held.delete(name);
      this.#seenBundles.add(name);
    }
    if (merged.length > 0) await this.#port.meta.write(merged.map((b) => [this.#seenKey(b), EMPTY] as const));
  }

  async #allApplied(cids: readonly CID[]): Promise<boolean> {
    for (const cid of cids) if (!(await this.#port.hasEvent(cid))) return false;
    return true;
  }

  /**
   * Runs a verification step; an `INTEGRITY` or `KEY_REQUIRED` failure
   * rejects the item (recorded in the status) instead of failing the cycle.
   */
  async #verified<T>(name: string, step: () => Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (err) {
      if (isHearthError(err, "INTEGRITY") || isHearthError(err, "KEY_REQUIRED")) {
        this.#reject(name, err);
        return undefined;
      }
      throw err;
    }
  }

  /** Records a remote item as rejected (`INTEGRITY`) or unreadable for now (`KEY_REQUIRED`), in the status. */
  #reject(name: string, err: HearthError): void {
    if (err.code === "KEY_REQUIRED") this.#lacking.set(name, err);
    else this.#rejected.set(name, err);
    this.#held.delete(name);
    this.#error = { code: err.code, message: err.message };
    this.#events.emit("status", this.status());
  }

  async #unknownHeads(): Promise<Set<string>> {
    const unknown = new Set<string>();
    for (const value of this.#announcements.values()) for (const h of value.h) if (!(await this.#known(h))) unknown.add(h.toString());
    return unknown;
  }

  async #allKnown(heads: readonly CID[]): Promise<boolean> {
    for (const h of heads) if (!this.#knownHeads.has(h.toString()) && !(await this.#known(h))) return false;
    return true;
  }

  async #known(head: CID): Promise<boolean> {
    const key = head.toString();
    if (this.#knownHeads.has(key)) return true;
    if (!(await this.#port.hasEvent(head))) return false;
    this.#knownHeads.add(key);
    return true;
  }

  /** True if the remote holds any announcement or bundle. */
  async #remoteHoldsAnything(): Promise<boolean> {
    return (await this.#remote.list(HEAD_PREFIX)).length > 0 || (await this.#remote.list(BUNDLE_PREFIX)).length > 0;
  }

  #seenKey(bundle: string): string {
    return `${this.#metaPrefix}b/${bundle.slice(BUNDLE_PREFIX.length)}`;
  }

  #assertAttached(): void {
    if (this.#detached) throw new HearthError("STORE_CLOSED", `the attachment to ${this.url} was detached; attach again to use it`);
  }

  /** Forgets keys-lacking items so they are tried again (after the keys changed). @internal */
  retryLacking(): void {
    this.#lacking.clear();
    this.#listNeeded = true;
    this.#kick();
  }
}

const EMPTY = new Uint8Array(0);

/** `work`, or a rejection once `ms` have passed (the work itself is not cancelled). */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HearthError("TIMEOUT", `did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first failure. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
