/**
 * One replica's view of a sync point's trust: which point it belongs to
 * (the pin), who the members are, which data keys it holds, and what it
 * may do there. Everything is decided by the signed membership log
 * (`trust/log.ts`), never by which records the sync point happens to
 * serve: a key is a key of the point only if an admin granted it, a write
 * counts only under a statement by a writer, and nothing the point deletes
 * or restores takes back what this replica has seen.
 *
 * How a replica comes to trust a point (its pin), in order:
 * 1. It already did (the pin is kept with the ledger).
 * 2. An invitation or share code names the point (out of band).
 * 3. A passphrase: the point whose passphrase grant the passphrase opens.
 * 4. The log holds an entry this device signed (it founded the point, or
 *    another ledger of this device joined it): nobody else can sign as it.
 * 5. The point holds no membership log at all: this replica founds one.
 * Otherwise attaching fails with `KEY_REQUIRED`, naming the remedies.
 *
 * Admins heal as they go: a member that lacks a key (added concurrently
 * with a rotation) gets it wrapped, and if every key is held by a removed
 * device, the first admin to notice rotates.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import { toHex } from "../crypto/encoding.js";
import type { Signer } from "../crypto/signing.js";
import { unwrapWithSecret, wrapWithSecret } from "../crypto/wrap.js";
import type { DataKey, DeviceIdentity, Fingerprint, Keyring } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import { assertStrongPassphrase, grantSigningPair, PASSPHRASE_LOG_N, passphraseSecret, redeemMessage } from "../trust/access.js";
import { createShareCode, formatInvitation, parseInvitation, parseShareCode, pointMatches } from "../trust/codes.js";
import { deviceOf, isDeviceFingerprint, parseDevice, type DeviceFingerprint, type DevicePublic } from "../trust/device.js";
import { ROLES, signEntry, type Entry, type EntryOp, type Role } from "../trust/entry.js";
import { grantPlace, unwrapGrant, wrapGrant } from "../trust/grants.js";
import { MembershipLog, type Resolution } from "../trust/log.js";
import type { Statement } from "../trust/statement.js";
import { bytesEqual } from "../crypto/encoding.js";
import { MembershipStore } from "./membership-store.js";
import type { PointMeta } from "./layout.js";

/** How attach obtains trust (and keys) for a device that is not a member yet. */
export interface JoinOptions {
  /** From `attachment.invite(publicKey)` on a member: this device was added. */
  readonly invitation?: string;
  /** A one-time share code from a member (`attachment.createShareCode()`). */
  readonly shareCode?: string;
  /** The passphrase a member set for the point. */
  readonly passphrase?: string;
}

/** A member as `attachment.members()` reports it. */
export interface MemberInfo {
  /** Its printable identity (what `invite` and `remove` take). */
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly role: Role;
  /** The fingerprint of the member that added it (its own for the founder and for those who redeemed a code). */
  readonly addedBy: string;
  /**
   * Set when something about this membership needs an admin's eye: it
   * redeemed a share code that another device also redeemed without seeing
   * this one (the sync point hid one redeem from the other, or the code was
   * used twice at once). Both stand; remove the device you did not give
   * the code to.
   */
  readonly warning?: string;
}

/** What {@link PointTrust.judge} says about a write statement. */
export type Judgement =
  | {
      readonly kind: "accept";
      /** Data heads its events must each be under (removals and demotions of the author it did not see). */
      readonly within: ReadonlyArray<readonly CID[]>;
    }
  | { readonly kind: "wait"; readonly reason: string }
  | { readonly kind: "refuse"; readonly error: HearthError };

/** What {@link PointTrust} needs from its attachment. */
export interface TrustDeps {
  readonly remote: Remote;
  readonly keyring: Keyring;
  readonly signer: Signer;
  /** The attachment's bookkeeping (`./layout.ts`). */
  readonly meta: PointMeta;
  /** The ledger's heads now: what a removal says its author had seen. */
  dataHeads(): CID[];
}

/** Most passphrase grants tried when joining by passphrase (each costs an scrypt run). */
const MAX_PASSPHRASE_TRIES = 4;

/** See the module docs. */
export class PointTrust {
  readonly #deps: TrustDeps;
  readonly #store: MembershipStore;
  readonly #identity: DeviceIdentity;
  readonly #me: DevicePublic;
  /** Keys of the point this replica holds, by fingerprint. */
  readonly #keys = new Map<Fingerprint, DataKey>();
  /** Grant records that failed to unwrap (planted or damaged): not tried again. */
  readonly #badWraps = new Set<string>();
  /** The run of {@link refresh} in progress, if any. */
  #refreshing: Promise<void> | undefined;
  /** One more run, asked for while {@link #refreshing} was under way (it may have listed the log already). */
  #refreshAgain: Promise<void> | undefined;
  /**
   * Called when keys were added, membership changed, or the log gained any
   * entry, even one that does not count (a planted one): a write's position
   * may name it, and the writes waiting for it are judged again.
   */
  onChanged: () => void = () => undefined;
  /** Called when the sync point had lost membership entries this replica holds (they were put back). */
  onRestored: (entries: number) => void = () => undefined;

  private constructor(deps: TrustDeps, identity: DeviceIdentity) {
    this.#deps = deps;
    this.#store = new MembershipStore(deps.remote, deps.signer, deps.meta);
    this.#identity = identity;
    this.#me = deviceOf(identity);
  }

  /**
   * Finds (or founds) the point, joins it as `options` allow, and loads the
   * keys this device holds.
   * @throws HearthError `KEY_REQUIRED` naming the point and the remedies;
   *   `REMOVED` if this device was removed; `INTEGRITY` if the remote holds
   *   data but no membership log; `INVALID_ARGUMENT` for a malformed code,
   *   invitation or weak passphrase (when founding).
   */
  static async open(deps: TrustDeps, options: JoinOptions): Promise<PointTrust> {
    checkJoinOptions(options);
    const trust = new PointTrust(deps, await deps.keyring.identity());
    await trust.#store.load();
    const { entries } = await trust.#store.sync();
    if (!trust.#store.pin) await trust.#choosePin(entries, options);
    await trust.#join(options);
    return trust;
  }

  /** The pinned point id. */
  get point(): CID {
    return this.#store.pin!;
  }

  /** This device's public identity. */
  get me(): DevicePublic {
    return this.#me;
  }

  /** The membership log, resolved. */
  resolution(): Resolution {
    return this.#store.log.resolve();
  }

  /** The log itself (positions, ancestry). */
  get log(): MembershipLog {
    return this.#store.log;
  }

  /** Remote membership entries refused as malformed or forged. */
  get rejectedEntries(): ReadonlyMap<string, HearthError> {
    return this.#store.rejected;
  }

  /** This device's role, `undefined` if it is not (or no longer) a member. */
  role(): Role | undefined {
    return this.resolution().members.get(this.#me.fingerprint)?.role;
  }

  /** True once this device has been removed. */
  removed(): boolean {
    return this.resolution().removed.has(this.#me.fingerprint);
  }

  /** The membership position this device writes at (the log heads). */
  anchor(): CID[] {
    return [...this.resolution().heads];
  }

  /**
   * Reads the point's log again: new entries, kept ones put back, keys
   * granted to this device unwrapped, and (for admins) healing. Returns
   * when a run that started after this call is done. A call while a run is
   * under way does not join it (that run may have listed the log before
   * what the caller heard of was put) but asks for one more, which every
   * call made meanwhile shares.
   */
  refresh(): Promise<void> {
    if (this.#refreshing === undefined) {
      this.#refreshing = this.#refreshNow().finally(() => {
        this.#refreshing = undefined;
      });
      return this.#refreshing;
    }
    this.#refreshAgain ??= this.#refreshing
      .catch(() => undefined)
      .then(() => {
        this.#refreshAgain = undefined;
        return this.refresh();
      });
    return this.#refreshAgain;
  }

  /**
   * True if the membership entry named `name` was read here already (or
   * refused): a notification that it was put needs no {@link refresh}.
   */
  holds(name: string): boolean {
    return this.#store.holds(name);
  }

  /**
   * The key new bundles are sealed with: the current epoch's.
   * @throws HearthError `REMOVED`; `KEY_REQUIRED` while this device waits for an admin to share it (or to rotate)
   */
  writeKey(): DataKey {
    if (this.removed()) throw this.removedError();
    const current = this.resolution().current;
    if (!current) {
      throw new HearthError("KEY_REQUIRED", `sync point ${this.#url()} has no key that only its members hold (every one was held by a removed device); an admin must rotate (attachment.rotateKey())`);
    }
    const key = this.#keys.get(current.key);
    if (!key) throw new HearthError("KEY_REQUIRED", `this device does not hold the current key of sync point ${this.#url()} yet; an admin shares it when it next syncs`);
    return key;
  }

  /**
   * The key with this fingerprint: held (a `DataKey`), a key of the point
   * this device lacks (`"missing"`), or no key of the point (`"foreign"`):
   * a key nobody granted in the log, such as one the sync point planted.
   */
  async keyFor(fingerprint: Fingerprint): Promise<DataKey | "foreign" | "missing"> {
    const held = this.#keys.get(fingerprint);
    if (held) return held;
    await this.refresh();
    const now = this.#keys.get(fingerprint);
    if (now) return now;
    return this.resolution().epochs.some((e) => e.key === fingerprint) ? "missing" : "foreign";
  }

  /**
   * Judges a write statement: by its point, its author's role at the
   * position it declares, and the author's removals and demotions it did
   * not see. Entries the position names that this replica lacks are
   * fetched once; if they are still missing, the verdict is to wait.
   */
  async judge(statement: Statement): Promise<Judgement> {
    if (!statement.point.equals(this.point)) {
      return { kind: "refuse", error: new HearthError("INTEGRITY", `a write statement is for another sync point (${statement.point}); its events were not merged`) };
    }
    if (!this.log.isComplete(statement.anchor)) {
      await this.refresh();
      if (!this.log.isComplete(statement.anchor)) return { kind: "wait", reason: "its membership position names entries this replica has not got" };
    }
    const author = statement.author.fingerprint;
    const role = this.log.roleAt(statement.anchor, author);
    if (role !== "admin" && role !== "writer") {
      return {
        kind: "refuse",
        error: new HearthError("FORBIDDEN", `device ${author} was ${role === undefined ? "not a member" : `a ${role}`} of sync point ${this.#url()} where it wrote; its events were refused`),
      };
    }
    const within: CID[][] = [];
    for (const cut of this.resolution().cutoffs.get(author) ?? []) {
      if (this.log.precedes(cut.entry, statement.anchor)) continue; // the author wrote after seeing it
      if (cut.role === "admin" || cut.role === "writer") continue; // a demotion that kept the right to write
      within.push([...cut.heads]);
    }
    return { kind: "accept", within };
  }

  /** The members, for `attachment.members()`. */
  members(): MemberInfo[] {
    const resolution = this.resolution();
    const warnings = new Map<string, string>();
    for (const { code, redeemers } of resolution.contested) {
      for (const device of redeemers) {
        const others = redeemers.filter((d) => d !== device).join(", ");
        warnings.set(device, `redeemed share code ${code} concurrently with ${others}: the sync point hid one redeem from the other, or the code was used twice; remove the device you did not give it to`);
      }
    }
    return [...resolution.members.values()]
      .map((m) => {
        const warning = warnings.get(m.device.fingerprint);
        return { publicKey: m.device.text, fingerprint: m.device.fingerprint, role: m.role, addedBy: m.addedBy, ...(warning !== undefined && { warning }) };
      })
      .sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1));
  }

  // ---------------------------------------------------------------- admin actions

  /**
   * Adds the device `publicKey` as a member with `role` (or changes its
   * role), wrapping every key this device holds for it. Returns the
   * invitation the device attaches with.
   * @throws HearthError `FORBIDDEN` unless this device is an admin; `INVALID_ARGUMENT` for a malformed or removed device
   */
  async invite(publicKey: string, role: Role = "writer"): Promise<string> {
    if (!ROLES.includes(role)) throw new HearthError("INVALID_ARGUMENT", `role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    const member = parseDevice(publicKey);
    await this.refresh();
    this.#assertAdmin("invite devices");
    const resolution = this.resolution();
    if (resolution.removed.has(member.fingerprint)) {
      throw new HearthError("INVALID_ARGUMENT", `device ${member.fingerprint} was removed from sync point ${this.#url()}; removal is permanent (the device can make a new identity and be invited as new)`);
    }
    const current = resolution.members.get(member.fingerprint);
    if (current && current.role !== role) {
      await this.#write({ kind: "role", member: member.fingerprint, role, cutoff: this.#deps.dataHeads() });
    } else if (!current) {
      const grants = [];
      for (const epoch of resolution.epochs) {
        if (!this.#keys.has(epoch.key)) continue;
        grants.push(await wrapGrant(this.#deps.keyring, this.point.toString(), epoch.epoch, epoch.key, [member]));
      }
      await this.#write({ kind: "add", member, role, grants });
    }
    return formatInvitation(this.point);
  }

  /**
   * Removes a device for good and rotates the key for the remaining
   * members. Codes and passphrases granted before are cancelled; with
   * `passphrase`, a new passphrase grant replaces them.
   * @throws HearthError `FORBIDDEN` unless this device is an admin; `INVALID_ARGUMENT` for itself or a malformed device
   */
  async remove(target: string, options: { passphrase?: string } = {}): Promise<void> {
    const fingerprint = isDeviceFingerprint(target) ? target : parseDevice(target).fingerprint;
    if (options.passphrase !== undefined) assertStrongPassphrase(options.passphrase);
    if (fingerprint === this.#me.fingerprint) throw new HearthError("INVALID_ARGUMENT", "a device cannot remove itself; remove it from another admin");
    await this.refresh();
    this.#assertAdmin("remove devices");
    const resolution = this.resolution();
    const remaining = [...resolution.members.values()].filter((m) => m.device.fingerprint !== fingerprint).map((m) => m.device);
    const epoch = Math.max(0, ...resolution.epochs.map((e) => e.epoch)) + 1;
    const key = await this.#deps.keyring.createKey(this.#label(), { shareable: true });
    const grant = await wrapGrant(this.#deps.keyring, this.point.toString(), epoch, key.fingerprint, remaining);
    this.#keys.set(key.fingerprint, key);
    await this.#write({ kind: "remove", member: fingerprint as DeviceFingerprint, cutoff: this.#deps.dataHeads(), grant });
    if (options.passphrase !== undefined) await this.#grantPassphrase(options.passphrase);
  }

  /**
   * A new key for every member (the next epoch): new data is sealed with
   * it. With devices to revoke, removes each (see {@link remove}).
   * @throws HearthError `FORBIDDEN` unless this device is an admin
   */
  async rotate(revoke: readonly string[] = []): Promise<void> {
    if (!Array.isArray(revoke) || !revoke.every((r) => typeof r === "string")) throw new TypeError("revoke must be an array of device public keys or fingerprints");
    if (revoke.length > 0) {
      for (const target of revoke) await this.remove(target);
      return;
    }
    await this.refresh();
    this.#assertAdmin("rotate keys");
    await this.#rotateNow();
  }

  /**
   * A one-time share code: whoever attaches with it first (by the log's
   * order) becomes a member with `role`, until `expiresInMs` from now
   * (by the redeeming device's clock).
   * @throws HearthError `FORBIDDEN` unless this device is an admin
   */
  async createShareCode(options: { role?: Role; expiresInMs?: number } = {}): Promise<string> {
    const role = options.role ?? "writer";
    if (!ROLES.includes(role)) throw new HearthError("INVALID_ARGUMENT", `role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    const expiresInMs = options.expiresInMs ?? 7 * 24 * 3600 * 1000;
    if (!Number.isSafeInteger(expiresInMs) || expiresInMs <= 0) throw new HearthError("INVALID_ARGUMENT", `expiresInMs must be a positive number of milliseconds, got ${String(expiresInMs)}`);
    await this.refresh();
    this.#assertAdmin("create share codes");
    const { code, secret } = createShareCode(this.point);
    const pair = await grantSigningPair(secret);
    const sealed = await wrapWithSecret(this.#deps.keyring, this.#heldKeys(), secret, codeContext(this.point, pair.publicKey));
    await this.#write({ kind: "code", role, expires: Date.now() + expiresInMs, verifyKey: pair.publicKey, sealed });
    return code;
  }

  // ---------------------------------------------------------------- joining

  /** Chooses the point to trust (rules 2–5 of the module docs); founds one if the remote has none. */
  async #choosePin(entries: readonly Entry[], options: JoinOptions): Promise<void> {
    const foundings = entries.filter((e) => e.op.kind === "found" && !this.#store.isWithdrawn(e.cid));
    const byPrefix = (prefix: Uint8Array, what: string): CID => {
      const matches = foundings.filter((f) => pointMatches(f.cid, prefix));
      if (matches.length === 0) {
        throw new HearthError("KEY_REQUIRED", `the ${what} is not for sync point ${this.#url()}: it holds no matching membership log (check the URL, or ask for a new ${what})`);
      }
      return matches[0]!.cid;
    };
    if (options.invitation !== undefined) return this.#store.setPin(byPrefix(parseInvitation(options.invitation), "invitation"));
    if (options.shareCode !== undefined) return this.#store.setPin(byPrefix(parseShareCode(options.shareCode).point, "share code"));
    const own = this.#ownPoint(entries);
    if (own) return this.#store.setPin(own);
    if (options.passphrase !== undefined && foundings.length > 0) {
      const point = await this.#pointOpenedBy(options.passphrase, foundings, entries);
      if (point) return this.#store.setPin(point);
      throw new HearthError("KEY_REQUIRED", `the passphrase does not open sync point ${this.#url()} (it is wrong, or passphrase access was switched off); check it, or ask a member for a share code`);
    }
    if (foundings.length === 0) {
      if ((await this.#deps.remote.list("bundle/")).length > 0 || (await this.#deps.remote.list("head/")).length > 0) {
        throw new HearthError(
          "INTEGRITY",
          `sync point ${this.#url()} holds data but no membership log: it was written by an older Hearth, or its m/ entries were deleted; it cannot be joined (start a new sync point)`,
        );
      }
      return this.#found(options.passphrase);
    }
    throw this.#notMember();
  }

  /** The point of an entry this device signed (it founded or joined it), if the remote shows one. */
  #ownPoint(entries: readonly Entry[]): CID | undefined {
    const points = entries
      .filter((e) => e.author.fingerprint === this.#me.fingerprint && !this.#store.isWithdrawn(e.cid))
      .map((e) => (e.op.kind === "found" ? e.cid : e.point!))
      .sort((a, b) => (a.toString() < b.toString() ? -1 : 1));
    return points[0];
  }

  /** The point one of whose open passphrase grants `passphrase` opens. */
  async #pointOpenedBy(passphrase: string, foundings: readonly Entry[], entries: readonly Entry[]): Promise<CID | undefined> {
    let tries = 0;
    for (const founding of foundings) {
      const log = new MembershipLog(founding.cid, this.#store.checks);
      log.add(entries);
      for (const grant of log.resolve().grants.values()) {
        const { op } = grant.entry;
        if (grant.kind !== "pass" || !grant.open || op.kind !== "pass" || op.role === null) continue;
        if (tries++ >= MAX_PASSPHRASE_TRIES) return undefined;
        const pair = await grantSigningPair(await passphraseSecret(passphrase, op.salt, op.cost));
        if (bytesEqual(pair.publicKey, op.verifyKey)) return founding.cid;
      }
    }
    return undefined;
  }

  /** Founds a new point with a fresh key (and passphrase access, if given), unless another founder wins a race. */
  async #found(passphrase: string | undefined): Promise<void> {
    if (passphrase !== undefined) assertStrongPassphrase(passphrase);
    const key = await this.#deps.keyring.createKey(this.#label(), { shareable: true });
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const place = grantPlace({ op: { kind: "found", nonce, grant: { epoch: 1, key: key.fingerprint, wraps: [] } } });
    const grant = await wrapGrant(this.#deps.keyring, place, 1, key.fingerprint, [this.#me]);
    const found = await signEntry({ parents: [], op: { kind: "found", nonce, grant } }, this.#me, this.#identity.signingKey, this.#deps.signer);
    // Published before it is pinned: if the publish fails, a retry finds the point empty (or finds
    // this founding by its signature) rather than a pin to a founding that is nowhere.
    await this.#store.publish(found);
    await this.#store.setPin(found.cid);
    this.#keys.set(key.fingerprint, key);
    // Two devices that found an empty point at once: whoever sees another founding right after
    // its own withdraws. The later of two always sees the earlier, so at most one founding stays
    // (if both see each other, both withdraw, and the next attach finds the point empty again).
    const { entries } = await this.#store.sync();
    const rival = entries.find((e) => e.op.kind === "found" && !e.cid.equals(found.cid));
    if (rival) {
      await this.#store.withdraw(found);
      await this.#store.clearPin();
      this.#keys.clear();
      const own = this.#ownPoint(entries.filter((e) => !e.cid.equals(found.cid)));
      if (!own) {
        throw new HearthError(
          "KEY_REQUIRED",
          `another device created sync point ${this.#url()} at the same moment. Ask it to run attachment.invite("${this.#me.text}") and attach with the invitation, or for a share code.`,
        );
      }
      await this.#store.setPin(own);
      return;
    }
    if (passphrase !== undefined) await this.#grantPassphrase(passphrase);
  }

  /** After pinning: redeems a code or passphrase if not a member yet, records the join, and loads the keys. */
  async #join(options: JoinOptions): Promise<void> {
    await this.refresh();
    if (this.removed()) throw this.removedError();
    if (!this.role()) {
      if (options.shareCode !== undefined) await this.#redeemCode(options.shareCode);
      else if (options.passphrase !== undefined) await this.#redeemPassphrase(options.passphrase);
      await this.refresh();
    }
    if (!this.role()) throw this.#notMember();
    // A device's first own entry lets its other ledgers find the point with no invitation.
    if (!this.log.entries().some((e) => e.author.fingerprint === this.#me.fingerprint)) await this.#write({ kind: "join" });
  }

  async #redeemCode(code: string): Promise<void> {
    const { secret } = parseShareCode(code);
    const pair = await grantSigningPair(secret);
    const grant = [...this.resolution().grants.values()].find((g) => g.kind === "code" && g.entry.op.kind === "code" && bytesEqual(g.entry.op.verifyKey, pair.publicKey));
    if (!grant || !grant.open) {
      throw new HearthError("KEY_REQUIRED", `this share code is not valid at sync point ${this.#url()}: it was already used or cancelled by a removal; ask a member for a new one`);
    }
    if (grant.entry.op.kind === "code" && grant.entry.op.expires < Date.now()) {
      throw new HearthError("KEY_REQUIRED", `this share code expired at ${new Date(grant.entry.op.expires).toISOString()}; ask a member for a new one`);
    }
    await this.#redeem(grant.entry, secret, pair, codeContext(this.point, pair.publicKey));
  }

  async #redeemPassphrase(passphrase: string): Promise<void> {
    for (const grant of this.resolution().grants.values()) {
      const { op } = grant.entry;
      if (grant.kind !== "pass" || !grant.open || op.kind !== "pass" || op.role === null) continue;
      const secret = await passphraseSecret(passphrase, op.salt, op.cost);
      const pair = await grantSigningPair(secret);
      if (!bytesEqual(pair.publicKey, op.verifyKey)) continue;
      return this.#redeem(grant.entry, secret, pair, passContext(this.point, op.salt));
    }
    throw new HearthError("KEY_REQUIRED", `the passphrase does not open sync point ${this.#url()} (it is wrong, or passphrase access was switched off); check it, or ask a member for a share code`);
  }

  /** Unwraps a grant's keys with its secret and writes the redeem entry. */
  async #redeem(grant: Entry, secret: Uint8Array, pair: { privateKey: CryptoKey }, context: string): Promise<void> {
    const sealed = grant.op.kind === "code" || (grant.op.kind === "pass" && grant.op.role !== null) ? grant.op.sealed : undefined;
    if (!sealed) throw new HearthError("INTEGRITY", "the grant carries no keys");
    for (const key of await unwrapWithSecret(this.#deps.keyring, sealed, secret, context, this.#label())) this.#keys.set(key.fingerprint, key);
    const proof = await this.#deps.signer.sign(pair.privateKey, redeemMessage(this.point, grant.cid, this.#me.fingerprint));
    await this.#write({ kind: "redeem", grant: grant.cid, at: Date.now(), proof });
  }

  // ---------------------------------------------------------------- internals

  async #refreshNow(): Promise<void> {
    const before = this.#snapshot();
    const { restored } = await this.#store.sync();
    if (restored > 0) this.onRestored(restored);
    await this.#loadKeys();
    if (this.role() === "admin") await this.#heal();
    if (this.#snapshot() !== before) this.onChanged();
  }

  /** Keys of the point this device holds or can unwrap now. */
  async #loadKeys(): Promise<void> {
    const me = this.#me.fingerprint;
    for (const epoch of this.resolution().epochs) {
      if (this.#keys.has(epoch.key)) continue;
      const held = await this.#deps.keyring.getKey(epoch.key);
      if (held) {
        this.#keys.set(epoch.key, held);
        continue;
      }
      const wrap = epoch.wraps.get(me);
      const id = `${epoch.epoch}/${epoch.key}`;
      if (!wrap || this.#badWraps.has(id)) continue;
      const entry = this.log.entries().find((e) => e.cid.equals(wrap.entry));
      if (!entry) continue;
      try {
        const key = await unwrapGrant(this.#deps.keyring, wrap.record, grantPlace(entry), epoch.epoch, epoch.key, me, wrap.from, this.#label());
        this.#keys.set(epoch.key, key);
      } catch (err) {
        if (!isHearthError(err, "INTEGRITY") && !isHearthError(err, "KEY_REQUIRED")) throw err;
        this.#badWraps.add(id);
      }
    }
  }

  /** Admin duty: members lacking a key this device holds get it; a point with no usable key gets a new one. */
  async #heal(): Promise<void> {
    const resolution = this.resolution();
    const members = [...resolution.members.values()].map((m) => m.device);
    if (!resolution.current && members.length > 0) {
      await this.#rotateNow();
      return;
    }
    for (const epoch of resolution.epochs) {
      if (!this.#keys.has(epoch.key)) continue;
      const lacking = members.filter((m) => !epoch.holders.has(m.fingerprint));
      if (lacking.length === 0) continue;
      const grant = await wrapGrant(this.#deps.keyring, this.point.toString(), epoch.epoch, epoch.key, lacking);
      await this.#write({ kind: "key", grant });
    }
  }

  async #rotateNow(): Promise<void> {
    const resolution = this.resolution();
    const members = [...resolution.members.values()].map((m) => m.device);
    const epoch = Math.max(0, ...resolution.epochs.map((e) => e.epoch)) + 1;
    const key = await this.#deps.keyring.createKey(this.#label(), { shareable: true });
    this.#keys.set(key.fingerprint, key);
    await this.#write({ kind: "key", grant: await wrapGrant(this.#deps.keyring, this.point.toString(), epoch, key.fingerprint, members) });
  }

  /** A passphrase grant (replacing any earlier one) carrying every key this device holds. */
  async #grantPassphrase(passphrase: string): Promise<void> {
    const salt = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const secret = await passphraseSecret(passphrase, salt, PASSPHRASE_LOG_N);
    const pair = await grantSigningPair(secret);
    const sealed = await wrapWithSecret(this.#deps.keyring, this.#heldKeys(), secret, passContext(this.point, salt));
    await this.#write({ kind: "pass", role: "writer", verifyKey: pair.publicKey, sealed, salt, cost: PASSPHRASE_LOG_N });
  }

  /** Signs `op` at the current log heads and publishes it. */
  async #write(op: EntryOp): Promise<void> {
    const entry = await signEntry({ point: this.point, parents: this.anchor(), op }, this.#me, this.#identity.signingKey, this.#deps.signer);
    await this.#store.publish(entry);
    await this.#loadKeys();
    this.onChanged();
  }

  #heldKeys(): Fingerprint[] {
    return this.resolution().epochs.map((e) => e.key).filter((k) => this.#keys.has(k));
  }

  #assertAdmin(what: string): void {
    if (this.removed()) throw this.removedError();
    const role = this.role();
    if (role !== "admin") throw new HearthError("FORBIDDEN", `only admins ${what} at sync point ${this.#url()}; this device is ${role ? `a ${role}` : "not a member"}`);
  }

  /** What {@link onChanged} watches: entries held (counted or not), the resolution's shape, keys held. */
  #snapshot(): string {
    const r = this.resolution();
    return `${this.log.size}/${r.valid.size}/${r.members.size}/${r.removed.size}/${this.#keys.size}/${r.current?.key ?? "-"}`;
  }

  /** The error of a device that was removed here. */
  removedError(): HearthError {
    return new HearthError("REMOVED", `this device was removed from sync point ${this.#url()}: it reads nothing written since, and its writes are refused. A member can invite a new identity of it.`);
  }

  #notMember(): HearthError {
    return new HearthError(
      "KEY_REQUIRED",
      `this device is not a member of sync point ${this.#url()}. Either ask an admin to run attachment.invite("${this.#me.text}") ` +
        `and attach with the invitation it returns ({ invitation }), or ask for a share code (attachment.createShareCode()) and attach with { shareCode }.`,
    );
  }

  #url(): string {
    return this.#deps.remote.url;
  }

  #label(): string {
    return `sync point ${this.#url()}`;
  }
}

function codeContext(point: CID, verifyKey: Uint8Array): string {
  return `hearth/code/v1/${point}/${toHex(verifyKey)}`;
}

function passContext(point: CID, salt: Uint8Array): string {
  return `hearth/pass/v1/${point}/${toHex(salt)}`;
}

function checkJoinOptions(options: JoinOptions): void {
  for (const name of ["invitation", "shareCode", "passphrase"] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) throw new TypeError(`${name} must be a non-empty string`);
  }
}
