/**
 * The outbox: pushing this device's writes to the sync point.
 *
 * The ledger's own event log *is* the outbox. A cursor `pushed` (kept in
 * the attachment's bookkeeping) says every local event at or below that
 * position is stored at the remote; everything above it is pushed as one
 * or more bundles, then one announcement naming them, then the cursor
 * moves. So writes made offline, while the remote fails, or before a crash
 * are pushed later, in order, and an announcement is never published
 * before its bundles are stored.
 *
 * Only events this device wrote are pushed, each bundle with a statement
 * this device signs (`trust/statement.ts`): members accept another
 * device's events only from that device. Events merged from elsewhere
 * reach the point from their authors (or, once an author can no longer
 * write, from the members that merged them: `./relay.ts`).
 *
 * Withholding: the outbox remembers which bundles it stored (`ob/<cid>`,
 * with the local positions they cover), and {@link Outbox.verify} checks,
 * at attach and on the slow poll, that the sync point still lists them. A
 * bundle gone from it (deleted, or withheld by a hostile sync point) moves
 * the cursor back, so the next push stores those events again, under a new
 * bundle and announcement; the attachment reports `WITHHELD`.
 *
 * A device that may not write (a reader, a removed device) pushes nothing:
 * its writes stay in the local ledger and the attachment shows why
 * (`FORBIDDEN`, `REMOVED`).
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { HearthError } from "../errors.js";
import { eventAuthor } from "../crdt/event.js";
import { bytesEqual } from "../crypto/encoding.js";
import type { DeviceIdentity } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import { signStatement } from "../trust/statement.js";
import type { AnnouncementBook } from "./announcements.js";
import type { PointMeta } from "./layout.js";
import type { SyncLogger } from "./logger.js";
import type { PointTrust } from "./point-trust.js";
import type { ReplicaPort } from "./port.js";
import { BUNDLE_PREFIX, sealAnnouncement, sealBundle, type BundleContent, type SealContext } from "./protocol.js";

/** Bookkeeping prefix of the bundles this device stored. */
const OWN_PREFIX = "ob/";

function ownBundleKey(bundle: string): string {
  return OWN_PREFIX + bundle.slice(BUNDLE_PREFIX.length);
}

/** Most events in one bundle; bigger pushes become several bundles under one announcement. */
const MAX_BUNDLE_EVENTS = 2_000;
/**
 * Most bytes of events in one bundle (an event bigger than this, one large
 * document, goes alone). With the ledger's events at most ~8 MiB, a bundle
 * holds at most ~8 MiB of events, under the sync server's default limit of
 * 32 MiB.
 * Before, only the event count bounded a bundle: 2,000 events of 20 KiB
 * made a 40 MB bundle that the server refused every time, for good.
 */
const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;
/** A bundle and its announcement go in one `putAll` up to this size; bigger ones as two puts. */
const MAX_BATCH_BYTES = 1024 * 1024;

/** What the outbox needs. */
export interface OutboxDeps {
  readonly port: ReplicaPort;
  readonly remote: Remote;
  readonly seal: SealContext;
  readonly meta: PointMeta;
  readonly trust: PointTrust;
  readonly identity: DeviceIdentity;
  /** This device's fingerprint as events carry it (16 bytes). */
  readonly author: Uint8Array;
  readonly announcements: AnnouncementBook;
  readonly logger: SyncLogger;
  /** Called with the bundles and heads a push stored (the inbox need not fetch them). */
  onPushed(bundles: readonly string[], heads: readonly CID[]): Promise<void>;
}

/** What one push did. */
export interface PushResult {
  /** The announcement it stored, if it stored anything. */
  readonly announced?: string;
  readonly bundles: readonly string[];
}

/** See the module docs. */
export class Outbox {
  readonly #deps: OutboxDeps;
  #pushedThrough = 0;
  /**
   * Bytes of events per bundle; halved when the remote refuses a bundle of
   * several events as too large (each refusal holds fewer events, so this
   * ends at one event a bundle), and kept for the attachment's life.
   */
  #bundleBytes = MAX_BUNDLE_BYTES;

  constructor(deps: OutboxDeps) {
    this.#deps = deps;
  }

  /** Loads the cursor. */
  async load(): Promise<void> {
    const cursor = await this.#deps.meta.get("pushed");
    if (cursor) this.#pushedThrough = Number(new TextDecoder().decode(cursor)) || 0;
  }

  /** The cursor: local events up to here are stored at the remote. */
  get pushedThrough(): number {
    return this.#pushedThrough;
  }

  /** Local events not yet stored at the remote. */
  pending(): number {
    return Math.max(0, this.#deps.port.eventCount() - this.#pushedThrough);
  }

  /** Forgets what was pushed (the remote lost it): everything is pushed again. */
  async reset(): Promise<void> {
    this.#pushedThrough = 0;
    await this.#deps.meta.write([["pushed", new TextEncoder().encode("0")]]);
  }

  /**
   * Pushes the local events above the cursor as of now: bundles first,
   * then one announcement, then the cursor. One round only: writes that
   * arrive meanwhile wait for the next cycle, so a steady stream of local
   * writes can never starve the pull.
   *
   * @throws HearthError `REMOVED` or `FORBIDDEN` when this device may not write (nothing is pushed)
   */
  async push(): Promise<PushResult> {
    const { port } = this.#deps;
    // One synchronous read: these heads are exactly the events up to `count`.
    const count = port.eventCount();
    const heads = port.heads();
    if (this.#pushedThrough >= count) return { bundles: [] };
    for (;;) {
      try {
        return await this.#pushThrough(count, heads);
      } catch (err) {
        // A remote with a smaller limit than ours (a sync server run with a small
        // --max-body): bundles of fewer events, down to one event each. The bundles
        // already stored stay unannounced; the next try stores their events again.
        if (!(err instanceof BundleTooLarge)) throw err;
        if (err.events === 1) throw err.cause;
        this.#bundleBytes = Math.min(this.#bundleBytes, err.bytes) >> 1;
        this.#deps.logger("split", { bundleBytes: this.#bundleBytes });
      }
    }
  }

  async #pushThrough(count: number, heads: CID[]): Promise<PushResult> {
    const { port, remote, trust, logger } = this.#deps;
    const bundles: string[] = [];
    // The last bundle is stored together with the announcement (one round
    // trip where the remote has putAll); earlier ones as they are sealed.
    let last: SealedBundle | undefined;
    /** The local positions each stored bundle covers. */
    const covers: Array<readonly [string, Uint8Array]> = [];
    for (let from = this.#pushedThrough + 1; from <= count; ) {
      const read = await port.eventsFrom(from, Math.min(MAX_BUNDLE_EVENTS, count - from + 1));
      if (read.length === 0) throw new HearthError("INTEGRITY", `local event log of ledger ${JSON.stringify(port.name)} ends before position ${from}`);
      const events = upToBytes(read, this.#bundleBytes);
      from = events[events.length - 1]!.position + 1;
      const mine = events.filter((e) => {
        const author = eventAuthor(e.bytes);
        return author !== undefined && bytesEqual(author, this.#deps.author);
      });
      if (mine.length === 0) continue;
      this.#assertMayWrite(mine.length);
      const statement = await signStatement(
        { point: trust.point, author: trust.me, anchor: trust.anchor(), events: mine.map((e) => e.cid), heads },
        this.#deps.identity.signingKey,
        port.signer,
      );
      const content: BundleContent = { events: mine.map((e) => e.bytes), statements: [statement.bytes] };
      const bundle = await sealBundle(this.#deps.seal, trust.writeKey(), content);
      if (last) await putBundle(last, (b) => remote.put(b.name, b.bytes));
      last = { ...bundle, content, eventBytes: mine.reduce((sum, e) => sum + e.bytes.length, 0) };
      bundles.push(bundle.name);
      covers.push([ownBundleKey(bundle.name), new TextEncoder().encode(`${mine[0]!.position}-${mine[mine.length - 1]!.position}`)]);
    }
    let announced: string | undefined;
    if (last) {
      // The last bundle's statement (which names these heads) vouches for the announcement.
      const head = await sealAnnouncement(this.#deps.seal, trust.writeKey(), heads, bundles, last.content);
      if (remote.putAll && last.bytes.length + head.bytes.length <= MAX_BATCH_BYTES) {
        const { putAll } = remote;
        await putBundle(last, (b) => putAll.call(remote, [[b.name, b.bytes], [head.name, head.bytes]]));
      } else {
        await putBundle(last, (b) => remote.put(b.name, b.bytes));
        await remote.put(head.name, head.bytes);
      }
      announced = head.name;
      this.#deps.announcements.add(head.name, heads, bundles, true, trust.me.fingerprint);
    }
    this.#pushedThrough = count;
    await this.#deps.meta.write([["pushed", new TextEncoder().encode(String(count))], ...covers]);
    await this.#deps.onPushed(bundles, heads);
    if (announced) logger("push", { announcement: announced, bundles, through: count });
    return announced === undefined ? { bundles } : { announced, bundles };
  }

  /**
   * Checks that every bundle this device stored is still listed by the
   * sync point; moves the cursor back before the first one that is not
   * (see the module docs). `listing` lists the point's bundles (once, shared
   * with the relay). Returns how many were missing.
   */
  async verify(listing: () => Promise<ReadonlySet<string>>): Promise<number> {
    const { meta, logger } = this.#deps;
    const own = await meta.list(OWN_PREFIX);
    if (own.length === 0) return 0;
    const listed = await listing();
    let from = Infinity;
    const gone: string[] = [];
    for (const key of own) {
      const name = BUNDLE_PREFIX + key.slice(OWN_PREFIX.length);
      if (listed.has(name)) continue;
      const range = new TextDecoder().decode((await meta.get(key)) ?? new Uint8Array());
      from = Math.min(from, Number(range.split("-")[0]) || 1);
      gone.push(key);
    }
    if (gone.length === 0) return 0;
    this.#pushedThrough = Math.min(this.#pushedThrough, from - 1);
    await meta.write([["pushed", new TextEncoder().encode(String(this.#pushedThrough))]], gone);
    logger("withheld", { bundles: gone.length, repushFrom: from });
    return gone.length;
  }

  /** Pushes until nothing is pending (detach's final flush). */
  async pushAll(): Promise<void> {
    while (this.#pushedThrough < this.#deps.port.eventCount()) await this.push();
  }

  #assertMayWrite(pending: number): void {
    const { trust, remote } = this.#deps;
    if (trust.removed()) {
      throw new HearthError("REMOVED", `this device was removed from sync point ${remote.url}; its local writes (${pending} or more) stay on this device and are not pushed`);
    }
    const role = trust.role();
    if (role !== "admin" && role !== "writer") {
      throw new HearthError(
        "FORBIDDEN",
        `this device is ${role ? `a ${role}` : "not a member"} at sync point ${remote.url}: its local writes (${pending} or more) stay on this device and are not pushed; an admin can make it a writer (attachment.invite(publicKey, { role: "writer" }))`,
      );
    }
  }
}

/** A bundle sealed and ready to store, with what it holds. */
interface SealedBundle {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly content: BundleContent;
  /** Bytes of the events in it, before sealing. */
  readonly eventBytes: number;
}

/** A remote refused a bundle as too large (`TOO_LARGE`, the cause): how many events and bytes it held. */
class BundleTooLarge extends Error {
  constructor(
    readonly events: number,
    readonly bytes: number,
    override readonly cause: HearthError,
  ) {
    super(cause.message);
  }
}

/** Stores `bundle` with `store`, turning a `TOO_LARGE` refusal into {@link BundleTooLarge}. */
async function putBundle(bundle: SealedBundle, store: (bundle: SealedBundle) => Promise<void>): Promise<void> {
  try {
    await store(bundle);
  } catch (err) {
    if (err instanceof HearthError && err.code === "TOO_LARGE") throw new BundleTooLarge(bundle.content.events.length, bundle.eventBytes, err);
    throw err;
  }
}

/** The longest prefix of `events` within `maxBytes` of event bytes, and at least the first. */
function upToBytes<T extends { readonly bytes: Uint8Array }>(events: readonly T[], maxBytes: number): T[] {
  let bytes = events[0]!.bytes.length;
  let n = 1;
  while (n < events.length && bytes + events[n]!.bytes.length <= maxBytes) bytes += events[n++]!.bytes.length;
  return n === events.length ? [...events] : events.slice(0, n);
}
