/**
 * Where a replica keeps the membership log of a sync point it is attached
 * to, and how it reads the point's copy: every entry it has verified is
 * kept locally (in the ledger's own encrypted store), so nothing the sync
 * point later deletes, withholds or restores can make this replica forget
 * a member, a removal or a key. Entries the point no longer lists are put
 * back (they are public, signed data: anyone may restore them).
 *
 * Local layout (under the attachment's bookkeeping prefix, `./layout.ts`):
 * `pin` (the point id this replica accepts) and `m/<cid>` (entry bytes).
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import { describeKeyRecord } from "../crypto/wrap.js";
import type { Signer } from "../crypto/signing.js";
import type { Fingerprint } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import { redeemMessage } from "../trust/access.js";
import { decodeEntry, ENTRY_PREFIX, entryName, type Entry } from "../trust/entry.js";
import { MembershipLog, type GrantChecks } from "../trust/log.js";
import { forEachLimit } from "./concurrency.js";
import type { PointMeta } from "./layout.js";

/** Remote reads in flight at once while fetching entries. */
const FETCH_CONCURRENCY = 8;

/** See the module docs. */
export class MembershipStore {
  readonly #remote: Remote;
  readonly #signer: Signer;
  readonly #meta: PointMeta;
  /** Every decoded entry seen at the remote or kept locally, by CID (all points). */
  readonly #decoded = new Map<string, Entry>();
  /** Entries kept locally (of the pinned point). */
  readonly #kept = new Set<string>();
  /** Remote names that failed to decode: never fetched again. */
  readonly #rejected = new Map<string, HearthError>();
  /** Redeem proofs checked, by redeem CID. */
  readonly #proofs = new Map<string, boolean>();
  /** Entries this replica withdrew (foundings that lost a race), by CID. */
  readonly #withdrawn = new Set<string>();
  #pin: CID | undefined;
  #log: MembershipLog | undefined;

  constructor(remote: Remote, signer: Signer, meta: PointMeta) {
    this.#remote = remote;
    this.#signer = signer;
    this.#meta = meta;
  }

  /** The pinned point id, if any. */
  get pin(): CID | undefined {
    return this.#pin;
  }

  /** The pinned point's log (throws before a pin is set). */
  get log(): MembershipLog {
    if (!this.#log) throw new Error("no point pinned yet");
    return this.#log;
  }

  /** Remote entries refused as malformed or forged, by name. */
  get rejected(): ReadonlyMap<string, HearthError> {
    return this.#rejected;
  }

  /** Loads the pin, the locally kept entries and the withdrawn ones (deleting those still at the remote). */
  async load(): Promise<void> {
    for (const key of await this.#meta.list("withdrawn/")) this.#withdrawn.add(key.slice("withdrawn/".length));
    if (this.#withdrawn.size > 0) await this.#deleteWithdrawn();
    const pin = await this.#meta.get("pin");
    if (pin) this.#pinTo(CID.decode(pin));
    for (const key of await this.#meta.list("m/")) {
      const bytes = await this.#meta.get(key);
      if (!bytes) continue;
      const entry = await decodeEntry(bytes, this.#signer);
      this.#decoded.set(entry.cid.toString(), entry);
      this.#kept.add(entry.cid.toString());
    }
    if (this.#log) this.#log.add(this.#decoded.values());
  }

  /** Pins `point` (durably): from now on only entries chaining to it count. */
  async setPin(point: CID): Promise<void> {
    await this.#meta.write([["pin", point.bytes]]);
    this.#pinTo(point);
    this.#log!.add(this.#decoded.values());
    await this.#keepPinned();
  }

  /** Forgets the pin (a founding that lost a race). */
  async clearPin(): Promise<void> {
    await this.#meta.write([], ["pin"]);
    this.#pin = undefined;
    this.#log = undefined;
  }

  /**
   * Lists the remote's entries, fetches and verifies the ones not seen yet,
   * puts back kept entries the remote no longer lists, and adds the pinned
   * point's entries to the log. Returns every decoded entry (all points)
   * and how many kept entries had to be put back.
   */
  async sync(): Promise<{ entries: Entry[]; restored: number }> {
    const names = await this.#remote.list(ENTRY_PREFIX);
    const listed = new Set(names);
    const fresh = names.filter((n) => !this.#decoded.has(n.slice(ENTRY_PREFIX.length)) && !this.#rejected.has(n));
    await forEachLimit(fresh, FETCH_CONCURRENCY, async (name) => {
      if (this.#withdrawn.has(name.slice(ENTRY_PREFIX.length))) return;
      const bytes = await this.#remote.get(name);
      if (bytes === undefined) return;
      await this.#accept(name, bytes);
    });
    // Parents the listing did not show (withheld from it, or just added): ask for them by name.
    for (let round = 0; this.#log && round < 8; round++) {
      const missing = this.#log.missing().filter((cid) => !this.#rejected.has(entryName(cid)));
      if (missing.length === 0) break;
      let found = 0;
      await forEachLimit(missing, FETCH_CONCURRENCY, async (cid) => {
        const bytes = await this.#remote.get(entryName(cid));
        if (bytes !== undefined && (await this.#accept(entryName(cid), bytes))) found++;
      });
      if (found === 0) break;
    }
    let restored = 0;
    for (const key of this.#kept) {
      const name = ENTRY_PREFIX + key;
      if (listed.has(name)) continue;
      await this.#remote.put(name, this.#decoded.get(key)!.bytes);
      restored++;
    }
    await this.#keepPinned();
    await this.#checkProofs();
    return { entries: [...this.#decoded.values()], restored };
  }

  /**
   * True if `name` is an entry this replica has read already (verified, or
   * refused as malformed or forged) or withdrew: {@link sync} would fetch
   * nothing for it, so a notification that it was put tells nothing new.
   */
  holds(name: string): boolean {
    const key = name.slice(ENTRY_PREFIX.length);
    return name.startsWith(ENTRY_PREFIX) && (this.#decoded.has(key) || this.#rejected.has(name) || this.#withdrawn.has(key));
  }

  /** Stores `entry` at the remote and keeps it if it is of the pinned point (the caller wrote it). */
  async publish(entry: Entry): Promise<void> {
    await this.#remote.put(entryName(entry.cid), entry.bytes);
    this.#decoded.set(entry.cid.toString(), entry);
    this.#log?.add([entry]);
    await this.#keepPinned();
    await this.#checkProofs();
  }

  /**
   * Gives up `entry` (a founding that lost a race): remembered as withdrawn
   * first (so this replica never takes it back, even if the delete below
   * fails), then deleted from the remote.
   */
  async withdraw(entry: Entry): Promise<void> {
    this.#decoded.delete(entry.cid.toString());
    this.#kept.delete(entry.cid.toString());
    await this.#meta.write([[`withdrawn/${entry.cid}`, new Uint8Array(0)]], [`m/${entry.cid}`]);
    this.#withdrawn.add(entry.cid.toString());
    await this.#deleteWithdrawn();
  }

  /** True for an entry this replica withdrew. */
  isWithdrawn(cid: CID): boolean {
    return this.#withdrawn.has(cid.toString());
  }

  /** Deletes withdrawn entries still at the remote (a failed delete is retried at the next attach). */
  async #deleteWithdrawn(): Promise<void> {
    for (const key of this.#withdrawn) {
      await this.#remote.delete(ENTRY_PREFIX + key).catch((err: unknown) => {
        if (!isHearthError(err, "STORAGE_FAILED")) throw err;
      });
    }
  }

  /** The checks the log needs that take crypto (proofs checked in {@link sync}). */
  readonly checks: GrantChecks = {
    proofValid: (redeem) => this.#proofs.get(redeem.cid.toString()) === true,
    keysOf: (grant) => {
      const sealed = grant.op.kind === "code" || (grant.op.kind === "pass" && grant.op.role !== null) ? grant.op.sealed : undefined;
      if (!sealed) return [];
      try {
        return describeKeyRecord(sealed).fps as Fingerprint[];
      } catch {
        return [];
      }
    },
  };

  #pinTo(point: CID): void {
    this.#pin = point;
    this.#log = new MembershipLog(point, this.checks);
  }

  /** Decodes a fetched entry; a bad one is rejected (counted), never fetched again. Returns whether it was new and good. */
  async #accept(name: string, bytes: Uint8Array): Promise<boolean> {
    let expected: CID;
    try {
      expected = CID.parse(name.slice(ENTRY_PREFIX.length));
    } catch (cause) {
      this.#rejected.set(name, new HearthError("INTEGRITY", `${name} at ${this.#remote.url} is not named by a CID; it is ignored`, { cause }));
      return false;
    }
    try {
      const entry = await decodeEntry(bytes, this.#signer, expected);
      this.#decoded.set(entry.cid.toString(), entry);
      this.#log?.add([entry]);
      return true;
    } catch (err) {
      if (!isHearthError(err, "INTEGRITY")) throw err;
      this.#rejected.set(name, err);
      return false;
    }
  }

  /** Keeps, locally, every decoded entry of the pinned point not kept yet. */
  async #keepPinned(): Promise<void> {
    if (!this.#log) return;
    const put: Array<readonly [string, Uint8Array]> = [];
    for (const entry of this.#log.entries()) {
      const key = entry.cid.toString();
      if (this.#kept.has(key)) continue;
      put.push([`m/${key}`, entry.bytes]);
      this.#kept.add(key);
    }
    if (put.length > 0) await this.#meta.write(put);
  }

  /** Checks the proofs of redeems whose grant is known (once each). */
  async #checkProofs(): Promise<void> {
    if (!this.#log || !this.#pin) return;
    for (const entry of this.#log.entries()) {
      if (entry.op.kind !== "redeem" || this.#proofs.has(entry.cid.toString())) continue;
      const grant = this.#decoded.get(entry.op.grant.toString());
      if (!grant) continue;
      const verifyKey = grant.op.kind === "code" || (grant.op.kind === "pass" && grant.op.role !== null) ? grant.op.verifyKey : undefined;
      const valid = verifyKey !== undefined && (await this.#signer.verify(verifyKey, entry.op.proof, redeemMessage(this.#pin, grant.cid, entry.author.fingerprint)));
      this.#proofs.set(entry.cid.toString(), valid);
      this.#log.invalidate();
    }
  }
}
