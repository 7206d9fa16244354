/**
 * The inbox: pulling other devices' writes from the sync point, checking
 * them, and merging what may be merged.
 *
 * Pull: list announcements, open the unseen ones, fetch the bundles they
 * name, verify and judge them, merge (the ledger persists and notifies at
 * once). A watch that names its changes spares the listing: the inbox
 * opens just the announcements named (with the values the remote passed
 * along), and merges content inlined in them without fetching the bundle,
 * so on the sync server a write reaches a watching reader with no request
 * at all. It lists again whenever it may have missed something: at start,
 * after a nameless notification (a reconnect), after a failure, on every
 * poll, and when `synced()` asks. When an announced head is still unknown
 * after that (its announcement was collected, or a bundle came from a
 * writer whose announcement was lost), it lists every bundle and fetches
 * the unseen ones. So does the first pull of every attachment, and the
 * first after each slow poll: a write whose announcement the point lost,
 * and which nothing else names, is found that way. Events fetched but
 * held for parents not here count as behind, like unknown heads. Bundles
 * merged are remembered, so a restart does not download them again, each
 * with the statements that vouched for it, so this replica can put it back
 * if the point loses it after its writer was removed (`./relay.ts`); a
 * bundle put back that way is found by that same scan.
 *
 * Judging a bundle (all or nothing):
 * - it opens with a key the membership log granted (`INTEGRITY` otherwise;
 *   tried again when the membership changes, as the grant may not have
 *   reached this replica yet);
 * - each event is covered by a valid statement signed by the event's author
 *   (`INTEGRITY` otherwise), for this point;
 * - each statement's author was a writer at the position it declares
 *   (`FORBIDDEN` otherwise); a position naming entries this replica cannot
 *   get makes the bundle wait;
 * - an author removed (or demoted to reader) at a point of the log it did
 *   not declare it had seen: its events outside what the remover had seen
 *   join the history inert (they change no document), so whoever built on
 *   them is not cut off.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import { compareCids, readEventBytes, type EventBlock } from "../crdt/event.js";
import { toHex } from "../crypto/encoding.js";
import type { Remote, RemoteChange } from "../remote/types.js";
import type { DeviceFingerprint } from "../trust/device.js";
import { openStatement, statementId, type Statement } from "../trust/statement.js";
import type { AnnouncementBook } from "./announcements.js";
import { forEachLimit } from "./concurrency.js";
import { BUNDLE_PREFIX, HEAD_PREFIX, seenBundleKey, type PointMeta } from "./layout.js";
import { WriterHeads } from "./writer-heads.js";
import { encodeRelayRecord } from "./relay.js";
import type { SyncLogger } from "./logger.js";
import type { PointTrust } from "./point-trust.js";
import type { ReplicaPort } from "./port.js";
import { isUnknownKeyError, openAnnouncement, openBundle, type Announcement, type BundleContent, type SealContext } from "./protocol.js";

/** Remote reads in flight at once during a pull. */
const FETCH_CONCURRENCY = 8;
/** Verified statements kept, by id (a statement is shared by a bundle and its announcement). */
const STATEMENT_CACHE = 1024;

/** What the inbox needs. */
export interface InboxDeps {
  readonly port: ReplicaPort;
  readonly remote: Remote;
  readonly seal: SealContext;
  readonly meta: PointMeta;
  readonly trust: PointTrust;
  readonly announcements: AnnouncementBook;
  readonly logger: SyncLogger;
  /** Asks for another cycle soon (an out-of-order notification to settle). */
  recheckSoon(): void;
  /** Reports a merge (`change` event) of `applied` events. */
  onMerged(applied: number): void;
  /** Reports a rejection (status changed). */
  onRejected(name: string, err: HearthError): void;
  /** Reports heads the remote announced but does not serve the events of, after a full search. */
  onWithheld(heads: number): void;
}

/** See the module docs. */
export class Inbox {
  readonly #deps: InboxDeps;
  /** Bundles whose events this replica holds (merged or pushed by it). */
  readonly #seen = new Set<string>();
  /** What each writer had merged when it pushed (see `./writer-heads.ts`). */
  readonly writerHeads = new WriterHeads();
  /** Bundles fetched whose events are not all applied yet (parents missing): held in memory by the ledger. */
  readonly #held = new Map<string, Fetched>();
  /** Remote items that failed verification, by name; never fetched again. */
  readonly #rejected = new Map<string, HearthError>();
  /** Items sealed with a key of this point this device lacks; retried when keys change. */
  readonly #lacking = new Map<string, HearthError>();
  /**
   * Items sealed with a key no membership entry read here grants: planted,
   * or written under a rotation this replica has not read yet. Retried when
   * the membership changes; unlike {@link #lacking}, they do not keep the
   * replica from being in sync (a sync point could plant them at will).
   */
  readonly #unknownKey = new Map<string, HearthError>();
  /**
   * Bundles waiting for membership entries their statements name, with
   * their events and authors (counted as behind, like held ones); retried
   * when membership changes.
   */
  readonly #waitingTrust = new Map<string, Waiting>();
  /** Bundles to fetch and judge again at the next pull, announced or not (see {@link retry}). */
  readonly #retrying = new Set<string>();
  /** Bundles an announcement names that the remote does not serve (deleted or withheld). */
  readonly #absent = new Set<string>();
  /** Events refused (their bundle was, or the ledger refused them): announced heads among them are not "behind". */
  readonly #refusedEvents = new Set<string>();
  /** Heads known to be applied locally (cache for the synced check). */
  readonly #knownHeads = new Set<string>();
  readonly #statements = new Map<string, Statement>();
  /** Announcements a watch said were put since the last pull, with their value when it came along. */
  #hints = new Map<string, Uint8Array | undefined>();
  /** The next pull lists announcements instead of trusting the hints (something may have been missed). */
  #listNeeded = true;
  #fullScanDone = false;
  /** The listing the next bundle scan uses (see {@link scanNext}), once. */
  #scanListing: (() => Promise<ReadonlySet<string>>) | undefined;
  /** Heads unknown after the last listing pull: still unknown at the next one, they call for a bundle scan. */
  #unknownBefore = new Set<string>();
  #behind = 0;
  /** Events merged inert (written by removed devices, outside what their removers had seen). */
  #inert = 0;
  /** True while this inbox's own merge is being applied (so the ledger's notification does not wake the loop). */
  merging = false;

  constructor(deps: InboxDeps) {
    this.#deps = deps;
  }

  /** Loads the bundles merged before. */
  async load(): Promise<void> {
    for (const key of await this.#deps.meta.list("b/")) this.#seen.add(BUNDLE_PREFIX + key.slice(2));
    await this.writerHeads.load(this.#deps.meta);
  }

  /** Forgets the bundles merged before (the remote was wiped). */
  forgetSeen(): void {
    this.#seen.clear();
  }

  /** Notes a bundle whose events this replica holds and stored itself (see `./relay.ts`): never fetched. */
  relayed(bundle: string): void {
    this.#seen.add(bundle);
  }

  /** Remote heads not merged here (0 when caught up). */
  get behind(): number {
    return this.#behind;
  }

  /** Remote items rejected (or unreadable for lack of a key), and events merged inert. */
  get rejected(): number {
    return this.#rejected.size + this.#lacking.size + this.#unknownKey.size + this.#inert;
  }

  /** Bundles waiting for membership entries their writers' positions name, which this replica has not got. */
  get waitingForTrust(): number {
    return this.#waitingTrust.size;
  }

  /** True while data sealed with a key this device lacks is at the remote (never "in sync" then). */
  get lacking(): boolean {
    return this.#lacking.size > 0;
  }

  /** True when the next pull lists the remote (rather than trusting notifications). */
  get listingNext(): boolean {
    return this.#listNeeded;
  }

  /** Asks the next pull to list the remote (something may have been missed). */
  needListing(): void {
    this.#listNeeded = true;
  }

  /**
   * Has the next pull look through every bundle the point lists, and fetch
   * those not merged here (at attach and on the slow poll). Announcements
   * are how bundles are found, but the point can lose or withhold one and
   * keep its bundles: no other announcement may ever name that write. The
   * scan finds it. `listing` lists the bundles (shared with the outbox's
   * and the relay's checks, so a poll lists them once).
   */
  scanNext(listing: () => Promise<ReadonlySet<string>>): void {
    this.#scanListing = listing;
    this.#fullScanDone = false;
  }

  /**
   * Forgets keys-lacking, unknown-key and trust-waiting items so they are
   * tried again (keys or membership changed). Their bundles are fetched
   * again by the next pull whether or not an announcement still names them:
   * one found by a scan of the bundles (its announcement lost or withheld)
   * would otherwise wait for the next scan, on the slow poll.
   */
  retry(): void {
    for (const name of [...this.#lacking.keys(), ...this.#unknownKey.keys(), ...this.#waitingTrust.keys()]) {
      if (name.startsWith(BUNDLE_PREFIX)) this.#retrying.add(name);
    }
    this.#lacking.clear();
    this.#unknownKey.clear();
    this.#waitingTrust.clear();
    this.#listNeeded = true;
  }

  /** Records the bundles a push stored (they need no fetch) and the heads it announced. */
  async pushed(bundles: readonly string[], heads: readonly CID[]): Promise<void> {
    for (const b of bundles) this.#seen.add(b);
    for (const h of heads) this.#knownHeads.add(h.toString());
    if (bundles.length > 0) await this.#deps.meta.write(bundles.map((b) => [seenBundleKey(b), EMPTY] as const));
  }

  /** A watch notification: notes what it names (or that a listing is needed). */
  onRemoteChange(changes: readonly RemoteChange[] | undefined): void {
    if (changes === undefined) {
      this.#listNeeded = true;
      return;
    }
    for (const change of changes) {
      if (!change.name.startsWith(HEAD_PREFIX)) continue;
      if (change.op === "put") this.#hints.set(change.name, change.bytes);
      else {
        this.#hints.delete(change.name);
        this.#deps.announcements.forget(change.name);
      }
    }
  }

  /** True when every head is applied here. */
  async allKnown(heads: readonly CID[]): Promise<boolean> {
    for (const h of heads) if (!(await this.#known(h))) return false;
    return true;
  }

  /** One pull (see the module docs). */
  async pull(): Promise<void> {
    const { announcements, remote } = this.#deps;
    const hints = this.#hints;
    this.#hints = new Map();
    let candidates: Iterable<string> = hints.keys();
    const listing = this.#listNeeded;
    if (listing) {
      this.#listNeeded = false;
      const listed = await remote.list(HEAD_PREFIX);
      announcements.keepOnly(new Set(listed));
      candidates = listed;
    }
    const fresh = [...candidates].filter((n) => !announcements.has(n) && !this.#rejected.has(n) && !this.#unknownKey.has(n));
    const inline = this.#inline;
    await forEachLimit(fresh, FETCH_CONCURRENCY, async (name) => {
      const bytes = hints.get(name) ?? (await remote.get(name));
      if (bytes === undefined) return; // collected meanwhile; a newer one covers it
      const value = await this.#verified(name, () => openAnnouncement(this.#deps.seal, name, bytes));
      const author = value && (await this.#verified(name, () => this.#announcer(name, value)));
      if (!value || !author) return;
      announcements.add(name, value.heads, value.bundles, false, author);
      if (value.inline && this.#wants(value.bundles[0]!)) inline.set(value.bundles[0]!, value.inline);
    });
    const wanted = new Set<string>();
    const announced = new Set<string>();
    for (const [, value] of announcements.entries()) {
      for (const b of value.bundles) {
        announced.add(b);
        if (this.#wants(b)) wanted.add(b);
      }
    }
    if (!this.#fullScanDone) await this.#scanBundles(wanted);
    // Taken now: a membership change while these are judged (a judgement may read the log)
    // asks for another try of what waits then, which the next pull makes.
    const again = [...this.#retrying].filter((b) => this.#wants(b));
    this.#retrying.clear();
    for (const b of again) wanted.add(b);
    try {
      await this.#fetchAndMerge(wanted, inline);
    } catch (err) {
      for (const b of again) this.#retrying.add(b);
      throw err;
    }
    // Inlined content goes once its bundle is settled, or once no announcement names the bundle
    // any more: content that waits forever (a member's write naming entries nobody has) is not
    // kept past its announcement. Were the bundle lost too, its writer pushes it again.
    for (const bundle of [...this.#inline.keys(), ...this.#inlineRefused.keys()]) {
      if (this.#settled(bundle) || !announced.has(bundle)) this.#forgetInline(bundle);
    }
    const unknown = await this.#unknownHeads();
    this.#behind = unknown.size;
    const stillUnknown = [...unknown].some((h) => this.#unknownBefore.has(h));
    if (listing) this.#unknownBefore = unknown;
    if (this.#behind > 0 && this.#fullScanDone && !(listing && stillUnknown)) {
      // Announcements arrive in any order, and a bundle just stored may not
      // be announced yet: what is missing is most likely on its way. Look
      // again shortly, listing then; scan only for heads still unknown.
      this.#listNeeded = true;
      this.#deps.recheckSoon();
    } else if (this.#behind > 0 && this.#fullScanDone) {
      // An announced head is still not here: its bundles were announced by
      // an announcement since collected, or not at all. List them all.
      const more = new Set<string>();
      await this.#scanBundles(more);
      if (more.size > 0) {
        await this.#fetchAndMerge(more);
        this.#behind = (await this.#unknownHeads()).size;
      }
      // Announced, with bundles the sync point does not serve, or held for parents no bundle
      // listed holds, even after a search of every bundle listed: it withholds them (or lost them).
      // Their writer (or a member that merged them) pushes them again when it notices.
      if (this.#behind > 0 && (this.#absent.size > 0 || this.#held.size > 0)) this.#deps.onWithheld(this.#behind);
    }
  }

  async #scanBundles(into: Set<string>): Promise<void> {
    const listing = this.#scanListing;
    this.#scanListing = undefined;
    for (const name of listing ? await listing() : await this.#deps.remote.list(BUNDLE_PREFIX)) if (this.#wants(name)) into.add(name);
    this.#fullScanDone = true;
  }

  /**
   * Content inlined in announcements, by bundle, kept until the bundle is
   * merged or refused (see {@link #settled}): a pull that fails part-way,
   * or content that waits for its parents or for membership entries, must
   * not leave the next try with only the bundle to fetch, which the sync
   * point may withhold.
   */
  readonly #inline = new Map<string, BundleContent>();
  /** Inlined content that was refused, by bundle: final if the bundle itself is not served. */
  readonly #inlineRefused = new Map<string, { readonly error: HearthError; readonly events: readonly string[] }>();

  #forgetInline(bundle: string): void {
    this.#inline.delete(bundle);
    this.#inlineRefused.delete(bundle);
  }

  /**
   * True once a bundle is merged, held for its parents, or refused: its
   * inlined content is needed no more. A bundle that waits (for membership
   * entries, or a key) keeps it: when it is tried again, that content may
   * be all the point still serves of it.
   */
  #settled(bundle: string): boolean {
    return this.#seen.has(bundle) || this.#held.has(bundle) || this.#rejected.has(bundle);
  }

  #wants(bundle: string): boolean {
    return (
      !this.#seen.has(bundle) && !this.#held.has(bundle) && !this.#rejected.has(bundle) && !this.#lacking.has(bundle) &&
      !this.#unknownKey.has(bundle) && !this.#waitingTrust.has(bundle)
    );
  }

  /**
   * Fetches, verifies and judges bundles, then merges the accepted ones in
   * one ingest. A bundle whose content came inlined in its announcement is
   * not fetched (unless that content fails its checks).
   */
  async #fetchAndMerge(names: Set<string>, inline: ReadonlyMap<string, BundleContent> = new Map()): Promise<void> {
    if (names.size === 0) return;
    const blocks: EventBlock[] = [];
    const inert = new Set<string>();
    const fetched = new Map<string, Fetched>();
    await forEachLimit([...names], FETCH_CONCURRENCY, async (name) => {
      let accepted = inline.has(name) ? await this.#judged(name, inline.get(name)!, true) : undefined;
      if (accepted) this.#inline.delete(name);
      if (!accepted) {
        const bytes = await this.#deps.remote.get(name);
        const refusal = this.#inlineRefused.get(name);
        if (bytes === undefined && refusal) {
          // Its announced content was refused, and the point serves nothing else under its name.
          for (const cid of refusal.events) this.#refusedEvents.add(cid);
          this.#forgetInline(name);
          this.#reject(name, refusal.error);
          return;
        }
        if (bytes === undefined) {
          this.#absent.add(name); // named by an announcement but not served: the writer pushes it again
          return;
        }
        this.#absent.delete(name);
        const content = await this.#verified(name, () => openBundle(this.#deps.seal, name, bytes));
        if (!content) return;
        accepted = await this.#judged(name, content, false);
        if (!accepted) return;
      }
      this.#absent.delete(name);
      blocks.push(...accepted.events);
      for (const cid of accepted.inert) inert.add(cid);
      const authors = [...new Set(accepted.events.map((e) => toHex(e.value.a)))];
      fetched.set(name, { cids: accepted.events.map((e) => e.cid), statements: accepted.statements, authors });
    });
    if (blocks.length > 0) {
      this.merging = true;
      let result: Awaited<ReturnType<ReplicaPort["ingest"]>>;
      try {
        result = await this.#deps.port.ingest(blocks, inert);
      } finally {
        this.merging = false;
      }
      if (result.applied > 0) this.#deps.onMerged(result.applied);
      if (inert.size > 0) {
        this.#inert += inert.size;
        this.#deps.logger("inert", { events: [...inert] });
      }
      // A bundle holding a refused event is rejected as a whole: it is never merged complete.
      for (const event of result.refusedEvents) {
        this.#refusedEvents.add(event.cid.toString());
        for (const [name, { cids }] of fetched) {
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
    for (const [name, bundle] of fetched) this.#held.set(name, bundle);
    const merged: Array<readonly [string, Uint8Array]> = [];
    for (const [name, { cids, statements }] of this.#held) {
      if (!(await this.#allApplied(cids))) continue;
      this.#held.delete(name);
      this.#seen.add(name);
      // Its statements, so this replica can put it back if its writer no longer can (`./relay.ts`).
      merged.push([seenBundleKey(name), encodeRelayRecord(statements)]);
    }
    const writers = this.writerHeads.takeDirty();
    if (merged.length > 0 || writers.length > 0) await this.#deps.meta.write([...merged, ...writers]);
  }

  /**
   * Checks a bundle's content (see the module docs). Returns its events and
   * which of them apply inert, or `undefined` if it was rejected or waits.
   * `quiet`: content inlined in an announcement; on failure the bundle
   * itself is fetched and judged instead, and only that counts.
   */
  async #judged(name: string, content: BundleContent, quiet: boolean): Promise<{ events: EventBlock[]; inert: string[]; statements: readonly Uint8Array[] } | undefined> {
    const step = <T>(work: () => Promise<T>): Promise<T | undefined> => (quiet ? work().catch(() => undefined) : this.#verified(name, work));
    const refuse = (events: readonly EventBlock[], error: HearthError): undefined => {
      if (quiet) {
        this.#inlineRefused.set(name, { error, events: events.map((e) => e.cid.toString()) });
      } else {
        for (const e of events) this.#refusedEvents.add(e.cid.toString());
        this.#reject(name, error);
      }
      return undefined;
    };
    const events = await step(() => Promise.all(content.events.map((e) => readEventBytes(e))));
    const statements = events && (await step(() => Promise.all(content.statements.map((s) => this.#statement(s)))));
    if (!events || !statements) return undefined;
    const inert: string[] = [];
    const verdicts = new Map<Statement, Awaited<ReturnType<PointTrust["judge"]>>>();
    for (const event of events) {
      const author = toHex(event.value.a);
      const statement = statements.find((s) => s.author.fingerprint === author && s.events.some((c) => c.equals(event.cid)));
      if (!statement) {
        return refuse(events, new HearthError("INTEGRITY", `${name} at ${this.#deps.remote.url} holds event ${event.cid} without a statement signed by its author; nothing of it was merged`));
      }
      let verdict = verdicts.get(statement);
      if (!verdict) verdicts.set(statement, (verdict = await this.#deps.trust.judge(statement)));
      if (verdict.kind === "refuse") return refuse(events, verdict.error);
      if (verdict.kind === "wait") {
        this.#waitingTrust.set(name, { cids: events.map((e) => e.cid), authors: [...new Set(events.map((e) => toHex(e.value.a)))] });
        this.#deps.logger("wait", { bundle: name, reason: verdict.reason });
        return undefined;
      }
      this.writerHeads.note(statement.author.fingerprint, statement.heads);
      // Outside what a remover had seen (all of whose heads are here, so
      // an event not yet here is not among them): it joins inert.
      for (const heads of verdict.within) {
        if ((await this.#allApplied(heads)) && !(await this.#deps.port.hasEvent(event.cid))) {
          inert.push(event.cid.toString());
          break;
        }
      }
    }
    return { events, inert, statements: content.statements };
  }

  /** Opens a statement, or returns the one already opened from the same bytes (a push's statement is met in its announcement and its bundle: one signature check). */
  async #statement(bytes: Uint8Array): Promise<Statement> {
    const id = statementId(bytes);
    const cached = this.#statements.get(id);
    if (cached) return cached;
    const statement = await openStatement(bytes, this.#deps.port.signer);
    this.#statements.set(id, statement);
    if (this.#statements.size > STATEMENT_CACHE) this.#statements.delete(this.#statements.keys().next().value as string);
    return statement;
  }

  async #allApplied(cids: readonly CID[]): Promise<boolean> {
    for (const cid of cids) if (!(await this.#deps.port.hasEvent(cid))) return false;
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
      if (isHearthError(err, "INTEGRITY") || isHearthError(err, "KEY_REQUIRED") || isHearthError(err, "FORBIDDEN")) {
        this.#reject(name, err);
        return undefined;
      }
      throw err;
    }
  }

  /** Records a remote item as rejected (`INTEGRITY`, `FORBIDDEN`) or unreadable for now (`KEY_REQUIRED`, or a key not granted yet). */
  #reject(name: string, err: HearthError): void {
    if (err.code === "KEY_REQUIRED") this.#lacking.set(name, err);
    else if (isUnknownKeyError(err)) this.#unknownKey.set(name, err);
    else this.#rejected.set(name, err);
    this.#held.delete(name);
    this.#deps.logger("reject", { item: name, code: err.code, message: err.message });
    this.#deps.onRejected(name, err);
  }

  /**
   * The device that announced `value`: the author of a valid statement,
   * for this point, naming exactly its heads.
   * @throws HearthError `INTEGRITY` if no statement vouches for it
   */
  async #announcer(name: string, value: Announcement): Promise<string> {
    const heads = [...value.heads].sort(compareCids);
    for (const bytes of value.statements) {
      const statement = await this.#statement(bytes);
      if (!statement.point.equals(this.#deps.trust.point)) continue;
      if (statement.heads.length === heads.length && statement.heads.every((h, i) => h.equals(heads[i]!))) return statement.author.fingerprint;
    }
    throw new HearthError("INTEGRITY", `${name} at ${this.#deps.remote.url} announces heads no statement of its writer names; it was ignored`);
  }

  /**
   * Announced heads not applied here, events held for their parents (see
   * {@link #held}) and events of bundles waiting for membership entries;
   * less those refused (never to be applied: not "behind"), and less those
   * of devices since removed (a removed device may announce, or build on,
   * what it never stores, and may name entries that do not exist).
   *
   * Held and waiting events count because nothing else may name them: a
   * write whose announcement is gone, found by a scan of the bundles,
   * whose parent's bundle the point lost and a member put back later
   * (`./relay.ts`) under a name no announcement carries, or whose
   * position names an entry the point rolled back. Counted, they keep this
   * replica from calling itself in sync, and make the next listing read
   * the log again and look through the bundles again.
   */
  async #unknownHeads(): Promise<Set<string>> {
    const unknown = new Set<string>();
    const removed = this.#deps.trust.resolution().removed;
    const note = async (cid: CID): Promise<void> => {
      if (!this.#refusedEvents.has(cid.toString()) && !(await this.#known(cid))) unknown.add(cid.toString());
    };
    for (const [, value] of this.#deps.announcements.entries()) {
      if (removed.has(value.author as DeviceFingerprint)) continue;
      for (const h of value.heads) await note(h);
    }
    for (const held of [...this.#held.values(), ...this.#waitingTrust.values()]) {
      if (held.authors.every((a) => removed.has(a as DeviceFingerprint))) continue;
      for (const cid of held.cids) await note(cid);
    }
    return unknown;
  }

  async #known(head: CID): Promise<boolean> {
    const key = head.toString();
    if (this.#knownHeads.has(key)) return true;
    if (!(await this.#deps.port.hasEvent(head))) return false;
    this.#knownHeads.add(key);
    return true;
  }
}

const EMPTY = new Uint8Array(0);

/** A bundle fetched and accepted: its events, and the statements that vouched for them. */
interface Fetched {
  readonly cids: CID[];
  readonly statements: readonly Uint8Array[];
  /** The devices that wrote its events (fingerprints). */
  readonly authors: readonly string[];
}

/** A bundle whose writers' positions name membership entries this replica has not got: its events and their writers. */
type Waiting = Pick<Fetched, "cids" | "authors">;
