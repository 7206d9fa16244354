/**
 * The sync engine: one {@link Attachment} per (ledger, remote) pair, pushing
 * and pulling until both hold the same heads, for as long as it is attached.
 *
 * The parts, each in its own module:
 * - {@link PointTrust} (`./point-trust.ts`): the point's membership log,
 *   the keys this device holds, what it may do there;
 * - {@link Outbox} (`./outbox.ts`): pushes this device's writes, signed;
 * - {@link Inbox} (`./inbox.ts`): pulls, checks and merges others' writes;
 * - {@link Collector} (`./collector.ts`): deletes superseded announcements;
 * - {@link SyncLoop} (`./loop.ts`): when cycles run, the state machine,
 *   backoff, and `synced()` waiters.
 * This class wires them to the ledger and the remote, and is the public
 * face: status, events, and the membership actions.
 *
 * One cycle is push → pull → push; it is requested by local commits, by
 * the remote's watch (or a poll timer where the remote cannot watch) and by
 * `synced()`. Transient remote failures put the attachment `offline` and
 * retry with capped exponential backoff; data that fails verification is
 * rejected (counted in the status), never merged, and does not stop the
 * rest.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { CID } from "multiformats/cid";
import { concatBytes, fromHex, toBase32 } from "../crypto/encoding.js";
import { compareBytes } from "../codec/block.js";
import type { DeviceIdentity } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import type { Role } from "../trust/entry.js";
import { AnnouncementBook } from "./announcements.js";
import { Collector } from "./collector.js";
import { withDeadline } from "./concurrency.js";
import { Inbox } from "./inbox.js";
import { BUNDLE_PREFIX, ENTRY_PREFIX, HEAD_PREFIX, type PointMeta } from "./layout.js";
import { silentLogger, type SyncLogger } from "./logger.js";
import { SyncLoop } from "./loop.js";
import { Outbox } from "./outbox.js";
import { Relay } from "./relay.js";
import type { MemberInfo, PointTrust } from "./point-trust.js";
import type { ReplicaPort } from "./port.js";
import type { SealContext } from "./protocol.js";
import { Emitter, type AttachmentEvents, type SyncStatus } from "./status.js";
import { FILE_PREFIX, FileTransfer, type FilesMode } from "./file-transfer.js";
import { getBlock } from "./file-blocks-remote.js";

/** After an announcement arrived before one it depends on, the engine looks again this soon. */
const RECHECK_MS = 100;
/** Bytes of {@link Attachment.digest} (80 bits: 16 base32 characters). */
const DIGEST_BYTES = 10;
const DIGEST_DOMAIN = new TextEncoder().encode("hearth/digest/v1\0");
const DIGEST_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** Default deadline of {@link Attachment.synced}. */
const DEFAULT_SYNCED_TIMEOUT_MS = 30_000;
/** Poll interval for remotes that cannot watch. */
const DEFAULT_POLL_MS = 1_000;
/** How long a collection waits for the attachment to be in sync before it leaves the sync point alone. */
const COLLECT_SYNC_MS = 10_000;
/** Safety poll interval for remotes that watch. */
const WATCHED_POLL_MS = 10_000;

/** Options of `Ledger.attach`. */
export interface AttachOptions {
  /** The invitation an admin's `invite` returned for this device. */
  readonly invitation?: string;
  /** A share code from an admin (`attachment.createShareCode()`), for a device not yet a member. */
  readonly shareCode?: string;
  /** A passphrase an admin set for the sync point (or, creating a new point, the one to set). */
  readonly passphrase?: string;
  /** Poll interval for remotes without `watch` (ms, default 1000). */
  readonly pollMs?: number;
  /** Receives every decision of the sync engine (see `./logger.ts`). Default: none. */
  readonly logger?: SyncLogger;
  /**
   * When files' bytes are fetched from the sync point: `"eager"` (default)
   * as soon as their documents arrive, so they are there offline;
   * `"lazy"` only when `file()`/`stream()` reads them. Either way this
   * device's own files are uploaded in the background.
   */
  readonly files?: FilesMode;
}

/** Options of {@link Attachment.synced}. */
export interface SyncedOptions {
  /** Reject with `TIMEOUT` after this long (default 30 s). */
  readonly timeoutMs?: number;
}

/** Options of {@link Attachment.rotateKey}. */
export interface RotateOptions {
  /** Devices (public keys or fingerprints) to remove (see {@link Attachment.remove}) rather than keep. */
  readonly revoke?: readonly string[];
}

/** What the ledger gives an attachment. @internal */
export interface AttachmentParts {
  readonly port: ReplicaPort;
  readonly remote: Remote;
  readonly trust: PointTrust;
  readonly meta: PointMeta;
  readonly identity: DeviceIdentity;
  readonly onDetach: () => Promise<void>;
}

/**
 * Push failures that retrying alone will not end (this device's role, a key
 * it waits for, a write bigger than the remote takes, a ledger at its quota there): the cycle goes on to
 * read the log and pull, and fails with the refusal at its end.
 */
const PUSH_BLOCKED = new Set(["FORBIDDEN", "REMOVED", "KEY_REQUIRED", "TOO_LARGE", "QUOTA_EXCEEDED"]);

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
  readonly #parts: AttachmentParts;
  readonly #events = new Emitter<AttachmentEvents>();
  readonly #pollMs: number;
  readonly #logger: SyncLogger;
  readonly #stops: Array<() => void> = [];
  readonly #announcements = new AnnouncementBook();
  readonly #outbox: Outbox;
  readonly #relay: Relay;
  readonly #inbox: Inbox;
  readonly #collector: Collector;
  readonly #loop: SyncLoop;
  readonly #files: FileTransfer;
  #recheckTimer: ReturnType<typeof setTimeout> | undefined;
  #detached: Promise<void> | undefined;
  /** Cutoffs (`<removal or demotion entry>/<device>`) this replica has applied to what it merged before (see {@link #applyCutoffs}). */
  readonly #cutsDone = new Set<string>();
  /** Events made inert here (written by removed devices concurrently with their removal), for the status. */
  #inert = 0;
  /** Contested share codes already reported in the status. */
  readonly #contestedReported = new Set<string>();
  /**
   * The next cycle checks that the bundles this device stored are still
   * there, and looks through every bundle for writes no announcement names
   * (at attach, on the slow poll).
   */
  #verifyNeeded = true;

  /** @internal Built by `Ledger.attach`; use that. */
  constructor(parts: AttachmentParts, options: AttachOptions) {
    const { port, remote, trust, meta } = parts;
    this.url = remote.url;
    this.#parts = parts;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#logger = options.logger ?? silentLogger;
    const seal: SealContext = {
      pointUrl: remote.url,
      keyFor: (fp) => trust.keyFor(fp),
      ...(port.cipher && { cipher: port.cipher }),
      ...(port.compression && { compression: port.compression }),
    };
    this.#inbox = new Inbox({
      port, remote, seal, meta, trust,
      announcements: this.#announcements,
      logger: this.#logger,
      recheckSoon: () => this.#recheckSoon(),
      onMerged: (applied) => this.#events.emit("change", { applied }),
      onRejected: (_name, err) => {
        this.#loop.noteError(err);
        this.#emitStatus();
      },
      onWithheld: (heads) =>
        this.#withheld(
          `${heads} event(s) announced at ${remote.url}, or held here for their parents, cannot be fetched: the sync point withholds or lost them; ` +
            `they arrive when their writer (or, for a removed writer, a member that merged them) stores them again`,
        ),
    });
    this.#outbox = new Outbox({
      port, remote, seal, meta, trust,
      identity: parts.identity,
      author: fromHex(trust.me.fingerprint),
      announcements: this.#announcements,
      logger: this.#logger,
      onPushed: (bundles, heads) => this.#inbox.pushed(bundles, heads),
    });
    const filesMode = options.files ?? "eager";
    if (filesMode !== "eager" && filesMode !== "lazy") throw new HearthError("INVALID_ARGUMENT", `files must be "eager" or "lazy", got ${JSON.stringify(filesMode)}`);
    this.#relay = new Relay({
      port, remote, seal, meta, trust, logger: this.#logger,
      onRelayed: (bundle) => this.#inbox.relayed(bundle),
    });
    this.#files = new FileTransfer({
      remote, meta, files: port.files, mode: filesMode, logger: this.#logger,
      onProgress: (progress) => this.#events.emit("progress", progress),
      mayPush: () => !trust.removed() && (trust.role() === "admin" || trust.role() === "writer"),
      liveFiles: (roots) => port.liveFiles(roots),
    });
    this.#collector = new Collector(remote, this.#announcements, (heads) => this.#inbox.allKnown(heads), this.#logger);
    this.#loop = new SyncLoop({
      cycle: () => this.#cycle(),
      onStatus: () => this.#emitStatus(),
      onFailure: () => this.#inbox.needListing(),
      logger: this.#logger,
      url: remote.url,
    });
    trust.onChanged = () => {
      this.#inbox.retry();
      this.#loop.kick();
      this.#files.kick(); // a role that changed may allow (or stop) uploads
    };
    trust.onRestored = (entries) => this.#withheld(`the sync point had lost ${entries} membership entr${entries === 1 ? "y" : "ies"}; this device put them back`);
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
    const { port, remote, meta } = this.#parts;
    await this.#outbox.load();
    await this.#inbox.load();
    for (const key of await meta.list("cut/")) this.#cutsDone.add(key.slice("cut/".length));
    if (this.#outbox.pushedThrough > 0 && !(await this.#remoteHoldsData())) {
      // The remote was wiped (a memory remote in a new process, a deleted
      // directory): what the cursor says was pushed is gone, so push it all again.
      await this.#outbox.reset();
      await this.#files.forgetUploads();
      this.#inbox.forgetSeen();
    }
    // Lazy reads (and eager fetches) of blocks this device lacks come from here too.
    this.#stops.push(port.files.addSource({ url: remote.url, fetchBlock: (cid) => getBlock(remote, cid) }));
    this.#stops.push(port.files.onChange(() => this.#files.kick()));
    // Local commits (and merges from other attachments) wake the loop; this
    // attachment's own merges do not: they need no push back, and a cycle
    // for them would only list the remote again.
    this.#stops.push(port.onApplied(() => {
      if (!this.#inbox.merging) this.#loop.kick();
    }));
    this.#files.kick();
    let pollMs = this.#pollMs;
    if (remote.supports.watch && remote.watch) {
      this.#stops.push(remote.watch(HEAD_PREFIX, (changes) => {
        this.#inbox.onRemoteChange(changes);
        this.#loop.kick();
      }));
      // A file's blocks arrive after its document: a reader that waits for them looks again. A block
      // deleted (a reader found it altered, or the point lost it) is uploaded again by whoever holds it.
      // (Only a named delete asks for a verify: remotes that cannot name changes notify on every put,
      // and the slow poll verifies anyway.)
      this.#stops.push(remote.watch(FILE_PREFIX, (changes) => {
        if (this.#files.noteChanges(changes)) this.#files.kick();
      }));
      // Only a notification that may tell something new reads the log: a delete (an entry to put
      // back), an entry not read yet, or no names. Puts of entries held are other replicas putting
      // back what the point lost or hides from them; reading the log for those would put back what
      // it hides from this replica, which wakes them in turn: a ring of restores with no end (with
      // the memory remote, all in microtasks, so no timer ever ran again).
      this.#stops.push(remote.watch(ENTRY_PREFIX, (changes) => {
        const { trust } = this.#parts;
        if (changes?.every((c) => c.op === "put" && trust.holds(c.name))) return;
        void trust.refresh().catch(() => undefined);
      }));
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
        this.#inbox.needListing();
        this.#verifyNeeded = true;
        void this.#parts.trust.refresh().catch(() => undefined);
        this.#loop.kick();
        this.#files.verifyNext();
        this.#files.kick();
        schedule();
      }, pollMs * (0.75 + Math.random() / 2));
      (timer as { unref?: () => void }).unref?.();
    };
    schedule();
    this.#stops.push(() => {
      polling = false;
      clearTimeout(timer);
    });
    this.#loop.kick();
  }

  // ---------------------------------------------------------------- public API

  /** The largest object the sync point takes, once known (`undefined`: no limit known). */
  get maxObjectBytes(): number | undefined {
    return this.#parts.remote.maxObjectBytes;
  }

  /** The current status (a snapshot). */
  status(): SyncStatus {
    const trust = this.#parts.trust;
    const fileError = this.#files.error;
    const error = this.#loop.error ?? (fileError && { code: fileError.code, message: fileError.message });
    const lastSyncAt = this.#loop.lastSyncAt;
    const role: Role | "removed" | undefined = trust.removed() ? "removed" : trust.role();
    return {
      state: this.#loop.state,
      pending: this.#outbox.pending(),
      behind: this.#inbox.behind,
      rejected: this.#inbox.rejected + trust.rejectedEntries.size + this.#inert + this.#files.rejected,
      files: { toPush: this.#files.progress.toPush, toFetch: this.#files.progress.toFetch },
      ...(lastSyncAt !== undefined && { lastSyncAt }),
      ...(error && { error }),
      ...(role !== undefined && { role }),
    };
  }

  /**
   * Listens to `status` (every state or progress change) or `change`
   * (remote events merged). Returns a function that stops listening.
   */
  on<K extends keyof AttachmentEvents>(event: K, fn: (payload: AttachmentEvents[K]) => void): () => void {
    if (event !== "status" && event !== "change" && event !== "progress") {
      throw new TypeError(`unknown attachment event ${JSON.stringify(event)}; use "status", "change" or "progress"`);
    }
    return this.#events.on(event, fn);
  }

  /**
   * Resolves once a sync cycle that started after this call ended with local
   * and remote holding the same heads: everything local is stored at the
   * remote and everything announced there is merged here.
   * @throws HearthError `TIMEOUT` (with the status in the message) after `timeoutMs`; `STORE_CLOSED` if detached;
   *   `FORBIDDEN` (this device is a reader with writes of its own) or `REMOVED` at once: it can never be in sync
   */
  synced(options: SyncedOptions = {}): Promise<void> {
    this.#assertAttached();
    const timeoutMs = options.timeoutMs ?? DEFAULT_SYNCED_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new HearthError("INVALID_ARGUMENT", `timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    // A change made elsewhere just before this call may not have been notified yet: look at the remote itself.
    this.#inbox.needListing();
    return this.#loop.waitForSync(timeoutMs, () => {
      const s = this.status();
      const waiting = this.#inbox.waitingForTrust;
      return (
        `state ${s.state}, ${s.pending} local events to push, ${s.behind} remote heads to merge` +
        (waiting > 0 ? ` (${waiting} bundle(s) wait for membership entries the sync point has not served)` : "") +
        (s.error ? `, last error ${s.error.code}: ${s.error.message}` : "")
      );
    });
  }

  /**
   * Resolves once files are in sync with the sync point: every file this
   * device holds is stored there and (with `files: "eager"`) every file its
   * documents refer to is here. Documents sync on their own ({@link synced}).
   * @throws HearthError `TIMEOUT` after `timeoutMs` (default 30 s), saying what is left; `STORE_CLOSED` if detached
   */
  async filesSynced(options: SyncedOptions = {}): Promise<void> {
    this.#assertAttached();
    const timeoutMs = options.timeoutMs ?? DEFAULT_SYNCED_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new HearthError("INVALID_ARGUMENT", `timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    await this.#files.settled(timeoutMs);
  }

  /**
   * Adds the device with printable identity `publicKey` (its
   * `db.device().publicKey`) as a member, `"writer"` by default, or changes
   * its role. Returns the invitation to give that device: it attaches with
   * `{ invitation }`.
   * @throws HearthError `FORBIDDEN` unless this device is an admin; `INVALID_ARGUMENT` for a malformed or removed device
   */
  async invite(publicKey: string, options: { role?: Role } = {}): Promise<string> {
    this.#assertAttached();
    const invitation = await this.#parts.trust.invite(publicKey, options.role ?? "writer");
    this.#loop.kick();
    return invitation;
  }

  /**
   * Creates a one-time share code: the first device to attach with it
   * (`attach(url, { shareCode })`) becomes a member with `role` (default
   * `"writer"`). Hand it over out of band; it works once, until it expires
   * (default in 7 days) or a removal cancels it.
   * @throws HearthError `FORBIDDEN` unless this device is an admin
   */
  createShareCode(options: { role?: Role; expiresInMs?: number } = {}): Promise<string> {
    this.#assertAttached();
    return this.#parts.trust.createShareCode(options);
  }

  /**
   * Removes a device for good: the remaining members get a new key it
   * lacks, its later writes are refused everywhere, and codes and
   * passphrases granted before are cancelled (with `passphrase`, a new one
   * takes over).
   * @throws HearthError `FORBIDDEN` unless this device is an admin; `INVALID_ARGUMENT` for this device itself
   */
  async remove(publicKey: string, options: { passphrase?: string } = {}): Promise<void> {
    this.#assertAttached();
    await this.#parts.trust.remove(publicKey, options);
    this.#loop.kick();
  }

  /** The members, with their roles. */
  async members(): Promise<MemberInfo[]> {
    this.#assertAttached();
    await this.#parts.trust.refresh();
    return this.#parts.trust.members();
  }

  /**
   * A short fingerprint of what this replica holds from the sync point:
   * the point, the ledger's heads and the membership log's heads, hashed
   * (SHA-256, 80 bits, printed `xxxx-xxxx-xxxx-xxxx`). Two members that
   * are both `synced()`, with no writes in between, have the same digest;
   * different digests that stay different mean the sync point shows them
   * different histories (a split view, which no single replica can see on
   * its own). Compare it out of band (read it aloud, a chat message).
   * Local writes not yet pushed, and writes synced through another point,
   * change it too.
   */
  digest(): string {
    this.#assertAttached();
    const trust = this.#parts.trust;
    const sorted = (cids: readonly CID[]): Uint8Array[] => cids.map((c) => c.bytes).sort(compareBytes);
    const ledgerHeads = sorted(this.#parts.port.heads());
    const logHeads = sorted(trust.anchor());
    const parts = [DIGEST_DOMAIN, trust.point.bytes, count(ledgerHeads.length), ...ledgerHeads, count(logHeads.length), ...logHeads];
    const printed = toBase32(sha256(concatBytes(...parts)).subarray(0, DIGEST_BYTES), DIGEST_ALPHABET);
    return printed.match(/.{4}/g)!.join("-");
  }

  /**
   * Rotates the sync point key: a new key for every member; new writes use
   * it, old data stays readable by members. `revoke` removes devices
   * instead (see {@link remove}).
   * @throws HearthError `FORBIDDEN` unless this device is an admin
   */
  async rotateKey(options: RotateOptions = {}): Promise<void> {
    this.#assertAttached();
    await this.#parts.trust.rotate(options.revoke ?? []);
    this.#loop.kick();
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
      const flushing = !this.#loop.backingOff && this.#loop.state !== "error";
      clearTimeout(this.#recheckTimer);
      this.#recheckTimer = undefined;
      await this.#loop.stop();
      await this.#files.stop();
      await this.#collector.settled();
      if (flushing) await withDeadline(this.#outbox.pushAll(), options.flushTimeoutMs ?? 5_000).catch(() => undefined);
      this.#events.clear();
      await this.#parts.onDetach();
    })();
    return this.#detached;
  }

  /**
   * Stops this attachment's file transfer at its next block until the
   * returned release (see `FileTransfer.hold`). @internal
   */
  async holdFiles(): Promise<() => void> {
    return this.#files.hold();
  }

  /**
   * Deletes at the sync point the blocks of files `live` does not name, once
   * every writer has seen a state without them (see `./file-transfer.ts`).
   * Called by `Ledger.compact()` between {@link holdFiles} and its release;
   * a sync point out of reach is left for the next time. @internal
   * @returns how many blocks were deleted
   */
  async collectFiles(live: ReadonlySet<string>): Promise<number> {
    if (this.#detached) return 0;
    const { port, trust } = this.#parts;
    const stable = async (): Promise<boolean> => {
      // In sync now: everything announced is merged here, and everything here is pushed.
      try {
        await this.synced({ timeoutMs: COLLECT_SYNC_MS });
      } catch {
        return false;
      }
      const heads = port.heads();
      const resolution = trust.resolution();
      for (const [device, member] of resolution.members) {
        if (device === trust.me.fingerprint || resolution.removed.has(device)) continue;
        if (member.role !== "admin" && member.role !== "writer") continue;
        let covered = false;
        for (const named of this.#inbox.writerHeads.of(device)) if ((covered = await port.covers(named, heads))) break;
        if (!covered) return false;
      }
      return true;
    };
    try {
      return await this.#files.collect(live, stable);
    } catch (err) {
      this.#logger("files.collect.failed", { remote: this.url, message: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }

  /** Forgets keys-lacking items so they are tried again (after the keys changed). @internal */
  retryLacking(): void {
    this.#inbox.retry();
    this.#loop.kick();
  }

  // ---------------------------------------------------------------- the cycle

  /** One push → pull → push round; true if local and remote then hold the same heads. */
  async #cycle(): Promise<boolean> {
    if (this.#verifyNeeded) {
      this.#verifyNeeded = false;
      let listed: Promise<ReadonlySet<string>> | undefined;
      const listing = (): Promise<ReadonlySet<string>> => (listed ??= this.#parts.remote.list(BUNDLE_PREFIX).then((names) => new Set(names)));
      const gone = await this.#outbox.verify(listing);
      if (gone > 0) this.#withheld(`${gone} bundle(s) this device stored were gone from ${this.url}; they are pushed again`);
      const relayed = await this.#relay.restore(listing);
      if (relayed > 0) this.#withheld(`${relayed} bundle(s) of devices no longer writers were gone from ${this.url}; this device stored them again`);
      this.#inbox.scanNext(listing);
    }
    const blocked = await this.#push();
    // Whenever it lists the remote's data, it reads the membership log again too (a removal
    // may have been missed): at start, after a reconnect or a failure, on the poll, for synced().
    // So does a push that lacked the key to seal with: the grant may be there now.
    if (this.#inbox.listingNext || blocked?.code === "KEY_REQUIRED") await this.#parts.trust.refresh();
    await this.#inbox.pull();
    this.#reportContested();
    await this.#applyCutoffs();
    // Pushed again: what was pulled may have unblocked it (a key granted); what blocks it now fails the cycle.
    const stillBlocked = (await this.#push()) ?? (blocked?.code === "KEY_REQUIRED" ? undefined : blocked);
    if (stillBlocked) throw stillBlocked;
    // A removed device is never in sync again, whether or not it has writes to push.
    if (this.#parts.trust.removed()) throw this.#parts.trust.removedError();
    // Data sealed with a key this device lacks is remote state it does not
    // hold: never call that "in sync" (it shows as KEY_REQUIRED instead).
    return this.#inbox.behind === 0 && !this.#inbox.lacking && this.#outbox.pending() === 0;
  }

  /**
   * Applies each removal's (and demotion's) cutoff to what this replica
   * merged before it knew of it: the removed device's events the remover
   * had not seen become inert (`Ledger` recomputes the documents they
   * wrote). Done once per cutoff, as soon as the heads it names are here;
   * what arrives later is judged at ingest (`./inbox.ts`). A demotion
   * followed by a promotion back to writer is left alone. Once this device
   * is itself removed, its own writes are left alone too: it is no longer a
   * member that must agree with the others, and what it wrote stays on it.
   */
  async #applyCutoffs(): Promise<void> {
    const { trust, port, meta } = this.#parts;
    const resolution = trust.resolution();
    for (const [device, cuts] of resolution.cutoffs) {
      if (device === trust.me.fingerprint && resolution.removed.has(device)) continue;
      const now = resolution.members.get(device)?.role;
      if (now === "admin" || now === "writer") continue;
      for (const cut of cuts) {
        // One removal may cut several devices (the removed one, and those only it had added).
        const key = `${cut.entry}/${device}`;
        if (this.#cutsDone.has(key) || cut.role === "admin" || cut.role === "writer") continue;
        const made = await port.whiteoutOutside(fromHex(device), cut.heads);
        if (made === undefined) continue; // the heads it names are not all here yet
        this.#cutsDone.add(key);
        await meta.write([[`cut/${key}`, new Uint8Array(0)]]);
        if (made > 0) {
          this.#inert += made;
          this.#logger("inert", { device, removal: key, events: made });
          this.#loop.noteError(new HearthError("FORBIDDEN", `${made} write(s) of device ${device}, made concurrently with its removal, were taken back`));
        }
      }
    }
  }

  /** Tells admins, once per code, of share codes redeemed by two devices that did not see each other (see `members()`). */
  #reportContested(): void {
    const { trust } = this.#parts;
    const resolution = trust.resolution();
    if (resolution.contested.length === 0 || trust.role() !== "admin") return;
    for (const { code, redeemers } of resolution.contested) {
      const key = code.toString();
      if (this.#contestedReported.has(key)) continue;
      this.#contestedReported.add(key);
      this.#withheld(
        `share code ${key} was redeemed by ${redeemers.length} devices (${redeemers.join(", ")}) that did not see each other's redeem: ` +
          `the sync point hid one from the other, or the code was used twice. All are members; remove (attachment.remove) the ones you did not give it to`,
      );
    }
  }

  /**
   * Pushes; returns (rather than throws) a refusal of this device's rights, a
   * key it lacks, or a write too large for the remote, so the pull still runs.
   */
  async #push(): Promise<HearthError | undefined> {
    try {
      const { announced } = await this.#outbox.push();
      if (announced !== undefined && !this.#detached) await this.#collector.afterPush(announced);
      this.#emitStatus();
      return undefined;
    } catch (err) {
      // Rights and keys: the cycle goes on to read the log and pull (what it reads may end
      // this: a key granted, a role restored) and fails with this at its end if it does not.
      if (err instanceof HearthError && PUSH_BLOCKED.has(err.code)) return err;
      throw err;
    }
  }

  /** Runs a cycle after {@link RECHECK_MS} (one pending at a time), unless something runs one sooner. */
  #recheckSoon(): void {
    if (this.#recheckTimer !== undefined || this.#detached) return;
    this.#recheckTimer = setTimeout(() => {
      this.#recheckTimer = undefined;
      this.#loop.kick();
    }, RECHECK_MS);
    (this.#recheckTimer as { unref?: () => void }).unref?.();
  }

  /** Reports withholding found (and what is done about it) in the status. */
  #withheld(message: string): void {
    this.#logger("withheld", { message });
    this.#loop.noteError(new HearthError("WITHHELD", message));
    this.#emitStatus();
  }

  #emitStatus(): void {
    this.#events.emit("status", this.status());
  }

  /** True if the remote holds any announcement or bundle. */
  async #remoteHoldsData(): Promise<boolean> {
    const { remote } = this.#parts;
    return (await remote.list(HEAD_PREFIX)).length > 0 || (await remote.list(BUNDLE_PREFIX)).length > 0;
  }

  #assertAttached(): void {
    if (this.#detached) throw new HearthError("STORE_CLOSED", `the attachment to ${this.url} was detached; attach again to use it`);
  }
}

/** `n` as 4 big-endian bytes (a digest's list lengths, so no two inputs hash alike). */
function count(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}
