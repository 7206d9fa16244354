/**
 * The membership log of one sync point, resolved: which entries count, who
 * is a member in which role, who was removed and what they had written by
 * then, and which data key is current. Pure and deterministic: replicas
 * holding the same entries compute the same answer, whatever order the
 * entries arrived in.
 *
 * ## The rules
 *
 * Entries form a DAG (each names the heads its author had seen). Only
 * entries that chain to the pinned founding entry count; the founding
 * entry's CID is the point id.
 *
 * 1. **Authority is judged in the author's own view.** An entry is valid
 *    when its author held the role it needs in the state made of the valid
 *    entries in its causal past: `admin` for add, remove, role, key, code
 *    and pass; membership for join; a redeem needs a valid code or
 *    passphrase grant in its past, still open there (a code redeemed once
 *    is closed to every redeem that saw that), its proof checked, the code
 *    unexpired by the redeemer's clock. Two redeems of one code that did
 *    not see each other both count (see `contested`): refusing either
 *    would take back a membership, and the writes, that its device was
 *    already told it had.
 * 2. **Removal wins.** Once a device is removed by a valid removal, every
 *    entry it wrote that is not in that removal's causal past is invalid
 *    (concurrent entries included: a removed admin's concurrent adds do
 *    not stand), and what only those entries made valid falls with them.
 *    A demotion does the same to the entries that needed the lost role.
 *    Removals themselves are judged by rule 1 only, so two admins removing
 *    each other at once are both removed (no admin may be left: the point
 *    then keeps its members and keys, and changes nothing more).
 * 3. **Removal is sticky.** A removed device is never a member again,
 *    whatever later or concurrent entries say, and nothing wraps a key for
 *    it any more (an epoch whose key a removed device holds is never the
 *    current one). Removals cancel the share codes and passphrase access
 *    granted before them.
 * 4. **The current key** is the greatest epoch (then the smallest key
 *    fingerprint) among the grants held by members only: none by a removed
 *    device, none by a device whose redeem of a code did not count (the
 *    second of two redeems still unwrapped the code's keys). When no key
 *    qualifies, an admin rotates. Deleting or restoring entries cannot
 *    choose it: what a device has seen, it keeps.
 *
 * Writes are judged by {@link MembershipLog.roleAt}, the role the author
 * held at the position it declared, in the resolution of that position's
 * own past: a past never changes, so a write accepted once is accepted by
 * every replica at any later time. What a later-known removal or demotion
 * takes back goes through the cutoffs (the data heads the remover had
 * seen), the same way on every replica: see the sync engine. A device whose
 * `add` (or promotion) fell under rule 2 gets its adder's cutoff too.
 *
 * Portable.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { compareCids } from "../crdt/event.js";
import type { Fingerprint } from "../keyring/types.js";
import type { DeviceFingerprint, DevicePublic } from "./device.js";
import type { Entry, KeyGrant, Role } from "./entry.js";

/** A current member. */
export interface Member {
  readonly device: DevicePublic;
  readonly role: Role;
  /** Who added it (itself, for the founder and redeemers). */
  readonly addedBy: DeviceFingerprint;
  /** The entry that made it a member. */
  readonly via: CID;
}

/** A removal or demotion of a device, with what its author had seen of the data. */
export interface Cutoff {
  /** The removal (role `undefined`) or role entry. */
  readonly entry: CID;
  /** The role after it; `undefined` for a removal. */
  readonly role: Role | undefined;
  /** The data heads its author had seen: the device's writes outside their past do not count. */
  readonly heads: readonly CID[];
}

/** One data key of the point, and who holds it. */
export interface EpochKey {
  readonly epoch: number;
  readonly key: Fingerprint;
  /** Devices it was wrapped for (or handed by a code or passphrase they redeemed). */
  readonly holders: ReadonlySet<DeviceFingerprint>;
  /** The wrapped records for each device, with the entry that carried each. */
  readonly wraps: ReadonlyMap<DeviceFingerprint, { readonly record: Uint8Array; readonly entry: CID; readonly from: DevicePublic }>;
}

/** A share code or passphrase grant, as the log knows it. */
export interface AccessGrant {
  readonly entry: Entry;
  readonly kind: "code" | "pass";
  readonly role: Role;
  /** Keys the grant carries, by fingerprint (from its sealed record's header). */
  readonly keys: readonly Fingerprint[];
  /** Still redeemable: not redeemed (codes), not replaced or switched off (passphrases), not cancelled by a removal. */
  readonly open: boolean;
}

/** Checks the parts of entries the log cannot check alone (they need crypto). */
export interface GrantChecks {
  /** True when `redeem`'s proof is signed by the grant's verify key. */
  proofValid(redeem: Entry, grant: Entry): boolean;
  /** Key fingerprints a code or passphrase grant carries. */
  keysOf(grant: Entry): readonly Fingerprint[];
}

/** Why an entry does not count. */
export interface Refusal {
  readonly entry: CID;
  readonly reason: string;
}

/** The log resolved (see the module docs). */
export interface Resolution {
  /** Entries that count. */
  readonly valid: ReadonlySet<string>;
  /** Entries that do not, and why. */
  readonly refused: readonly Refusal[];
  readonly members: ReadonlyMap<DeviceFingerprint, Member>;
  /** Removed devices (sticky). */
  readonly removed: ReadonlySet<DeviceFingerprint>;
  /** Removals and demotions, by device. */
  readonly cutoffs: ReadonlyMap<DeviceFingerprint, readonly Cutoff[]>;
  readonly epochs: readonly EpochKey[];
  /** The key new data is sealed with; undefined if every key is held by a removed device (an admin must rotate). */
  readonly current: EpochKey | undefined;
  readonly grants: ReadonlyMap<string, AccessGrant>;
  /** Heads of the complete part of the log (what a new entry names as parents). */
  readonly heads: readonly CID[];
  /** Share codes redeemed by more than one device that did not see each other's redeem: every redeemer stands; an admin should check them. */
  readonly contested: readonly ContestedCode[];
}

/** A share code two or more devices redeemed concurrently. */
export interface ContestedCode {
  /** The code's grant entry. */
  readonly code: CID;
  /** The devices whose redeems count, in log order. */
  readonly redeemers: readonly DeviceFingerprint[];
}

/** What rule 2 overruled: each entry, why, and the removal or demotion that did it. */
type Overruled = Map<string, { readonly reason: string; readonly cut: string }>;

/** Position resolutions kept for `roleAt` (write statements name few distinct positions). */
const POSITION_CACHE = 64;

/** What an entry needs its author to be. */
const NEEDS_ADMIN = new Set(["add", "remove", "role", "key", "code", "pass"]);

/** The entries of one point and their resolution (recomputed when entries are added). */
export class MembershipLog {
  readonly #point: CID;
  readonly #checks: GrantChecks;
  readonly #entries = new Map<string, Entry>();
  #resolution: Resolution | undefined;
  /** Resolutions of log positions (`roleAt`), by their sorted heads; cleared with {@link #resolution}. */
  readonly #positions = new Map<string, ReplayState>();
  /** Causal pasts (ancestor CIDs) of complete entries, for the current entry set. */
  #pasts = new Map<string, Set<string>>();
  #order: Entry[] = [];

  /** @param point - the pinned point id (the founding entry's CID) */
  constructor(point: CID, checks: GrantChecks) {
    this.#point = point;
    this.#checks = checks;
  }

  /** The pinned point id. */
  get point(): CID {
    return this.#point;
  }

  /** Adds verified entries (`decodeEntry`); entries of other points are ignored. Returns how many were new. */
  add(entries: Iterable<Entry>): number {
    let added = 0;
    for (const entry of entries) {
      const key = entry.cid.toString();
      if (this.#entries.has(key)) continue;
      const ours = entry.op.kind === "found" ? entry.cid.equals(this.#point) : entry.point?.equals(this.#point) === true;
      if (!ours) continue;
      this.#entries.set(key, entry);
      added++;
    }
    if (added > 0) {
      this.#resolution = undefined;
      this.#positions.clear();
    }
    return added;
  }

  /** Drops the cached resolution (the checks' answers changed). */
  invalidate(): void {
    this.#resolution = undefined;
    this.#positions.clear();
  }

  /** How many entries the log holds, counted or not. */
  get size(): number {
    return this.#entries.size;
  }

  /** True when the log holds entry `cid`. */
  has(cid: CID | string): boolean {
    return this.#entries.has(cid.toString());
  }

  /** True when every one of `cids` is held with its whole causal past (so its position can be judged). */
  isComplete(cids: readonly CID[]): boolean {
    this.resolve();
    return cids.every((cid) => this.#pasts.has(cid.toString()));
  }

  /** Every entry held. */
  entries(): Entry[] {
    return [...this.#entries.values()];
  }

  /** Parents named by held entries that the log does not hold (to fetch). */
  missing(): CID[] {
    const missing = new Map<string, CID>();
    for (const entry of this.#entries.values()) {
      for (const parent of entry.parents) if (!this.#entries.has(parent.toString())) missing.set(parent.toString(), parent);
    }
    return [...missing.values()];
  }

  /** The resolution of the entries held (cached until entries are added). */
  resolve(): Resolution {
    this.#resolution ??= this.#resolveNow();
    return this.#resolution;
  }

  /**
   * The role `device` held at the log position `heads` (valid entries in
   * their past, heads included), or `undefined` if none, or if the
   * position names entries this log does not hold (yet).
   */
  roleAt(heads: readonly CID[], device: DeviceFingerprint): Role | undefined {
    this.resolve(); // orders the entries and computes their pasts
    const id = heads.map(String).sort().join(",");
    let state = this.#positions.get(id);
    if (!state) {
      const within = new Set<string>();
      for (const head of heads) {
        const key = head.toString();
        const past = this.#pasts.get(key);
        if (!past) return undefined;
        within.add(key);
        for (const p of past) within.add(p);
      }
      // Resolved on its own: entries outside this past (a later removal) never change it.
      const { valid } = this.#validate(within);
      state = this.#replay((e) => valid.has(e));
      if (this.#positions.size >= POSITION_CACHE) this.#positions.delete(this.#positions.keys().next().value as string);
      this.#positions.set(id, state);
    }
    if (state.removed.has(device)) return undefined;
    return state.members.get(device)?.role;
  }

  /** True when entry `ancestor` is in the causal past of (or is one of) `heads`. */
  precedes(ancestor: CID, heads: readonly CID[]): boolean {
    const key = ancestor.toString();
    return heads.some((h) => h.toString() === key || this.#pasts.get(h.toString())?.has(key) === true);
  }

  // ---------------------------------------------------------------- resolution

  #resolveNow(): Resolution {
    this.#computeOrder();
    const refusedReasons = new Map<string, string>();
    const founding = this.#entries.get(this.#point.toString());
    // Entries whose ancestry is incomplete wait (they are not in #order).
    for (const entry of this.#entries.values()) {
      if (!this.#pasts.has(entry.cid.toString())) refusedReasons.set(entry.cid.toString(), "waiting for entries it follows");
    }
    if (!founding || !this.#pasts.has(founding.cid.toString())) return this.#empty(refusedReasons);

    const { valid, excluded, reasons } = this.#validate();
    for (const [cid, reason] of reasons) refusedReasons.set(cid, reason);
    const state = this.#replay((cid) => valid.has(cid));
    this.#impliedCutoffs(state, excluded);
    const refused = [...refusedReasons].filter(([cid]) => !valid.has(cid)).map(([cid, reason]) => ({ entry: this.#entries.get(cid)!.cid, reason }));
    // A redeem that did not count (a code used twice) still unwrapped the code's keys, if its
    // proof shows its author knew the secret: those keys are held outside the membership.
    for (const entry of this.#order) {
      if (entry.op.kind !== "redeem" || valid.has(entry.cid.toString())) continue;
      const grant = this.#entries.get(entry.op.grant.toString());
      if (!grant || !valid.has(grant.cid.toString()) || !this.#checks.proofValid(entry, grant)) continue;
      const keys = this.#checks.keysOf(grant);
      for (const epoch of state.epochs.values()) if (keys.includes(epoch.key)) epoch.holders.add(entry.author.fingerprint);
    }
    const epochs = [...state.epochs.values()];
    // A key any non-member holds (a removed device, a second redeemer of a code) never seals new data.
    const eligible = epochs.filter((k) => [...k.holders].every((h) => state.members.has(h)));
    eligible.sort((a, b) => b.epoch - a.epoch || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      valid,
      refused,
      members: state.members,
      removed: state.removed,
      cutoffs: state.cutoffs,
      epochs,
      current: eligible[0],
      grants: state.grants,
      heads: this.#heads(),
      contested: this.#contested(valid),
    };
  }

  /**
   * Rules 1 and 2 over the complete entries (only those in `within`, when
   * given: the resolution of one position's past). Rule 2 excludes entries;
   * excluding some can make others invalid under rule 1; repeated until
   * nothing more falls.
   */
  #validate(within?: ReadonlySet<string>): { valid: Set<string>; excluded: Overruled; reasons: Map<string, string> } {
    const reasons = new Map<string, string>();
    const excluded: Overruled = new Map();
    let valid = new Set<string>();
    for (let round = 0; round < this.#order.length + 2; round++) {
      valid = this.#authorized(excluded, reasons, within);
      let grew = false;
      for (const [cid, fall] of this.#overruled(valid)) {
        if (excluded.has(cid)) continue;
        excluded.set(cid, fall);
        grew = true;
      }
      if (!grew) break;
    }
    for (const cid of valid) if (excluded.has(cid)) valid.delete(cid);
    for (const [cid, { reason }] of excluded) reasons.set(cid, reason);
    return { valid, excluded, reasons };
  }

  /** Rule 1 for every complete entry (in `within`, if given), in order, skipping `excluded`; records why the others fail. */
  #authorized(excluded: ReadonlyMap<string, unknown>, reasons: Map<string, string>, within: ReadonlySet<string> | undefined): Set<string> {
    const valid = new Set<string>();
    for (const entry of this.#order) {
      const key = entry.cid.toString();
      if (excluded.has(key) || (within !== undefined && !within.has(key))) continue;
      const why = this.#denial(entry, this.#pasts.get(key)!, valid);
      if (why === undefined) valid.add(key);
      else reasons.set(key, why);
    }
    return valid;
  }

  /**
   * A device made a member (or a writer or admin) only by entries rule 2
   * overruled gets the cutoff of the removal or demotion that overruled
   * them: its writes the remover had not seen are taken back like those of
   * the removed device itself. (One step: a device added by such a device
   * in turn keeps its writes; see docs/security.md.)
   */
  #impliedCutoffs(state: ReplayState, excluded: Overruled): void {
    for (const [cid, { cut }] of excluded) {
      const { op } = this.#entries.get(cid)!;
      const device = op.kind === "add" ? op.member.fingerprint : op.kind === "role" && op.role !== "reader" ? op.member : undefined;
      if (device === undefined || state.removed.has(device)) continue;
      const role = state.members.get(device)?.role;
      if (role === "admin" || role === "writer") continue; // it holds the right by another entry
      const cutEntry = this.#entries.get(cut)!;
      const heads = cutEntry.op.kind === "remove" || cutEntry.op.kind === "role" ? cutEntry.op.cutoff : [];
      const known = state.cutoffs.get(device) ?? [];
      if (known.some((c) => c.entry.equals(cutEntry.cid))) continue;
      state.cutoffs.set(device, [...known, { entry: cutEntry.cid, role: undefined, heads }]);
    }
  }

  /** Share codes with more than one valid redeem. */
  #contested(valid: ReadonlySet<string>): ContestedCode[] {
    const byCode = new Map<string, DeviceFingerprint[]>();
    for (const entry of this.#order) {
      if (entry.op.kind !== "redeem" || !valid.has(entry.cid.toString())) continue;
      if (this.#entries.get(entry.op.grant.toString())?.op.kind !== "code") continue;
      const list = byCode.get(entry.op.grant.toString()) ?? [];
      list.push(entry.author.fingerprint);
      byCode.set(entry.op.grant.toString(), list);
    }
    return [...byCode].filter(([, redeemers]) => redeemers.length > 1).map(([code, redeemers]) => ({ code: this.#entries.get(code)!.cid, redeemers }));
  }

  /** Why `entry` is not authorized in its own view (`undefined`: it is). */
  #denial(entry: Entry, past: ReadonlySet<string>, valid: ReadonlySet<string>): string | undefined {
    const { op } = entry;
    if (op.kind === "found") return entry.cid.equals(this.#point) ? undefined : "a second founding entry";
    const view = this.#replay((cid) => past.has(cid) && valid.has(cid));
    const author = entry.author.fingerprint;
    if (view.removed.has(author)) return "its author had been removed";
    if (NEEDS_ADMIN.has(op.kind)) {
      if (view.members.get(author)?.role !== "admin") return `its author was not an admin (${view.members.get(author)?.role ?? "not a member"})`;
      return undefined;
    }
    if (op.kind === "join") return view.members.has(author) ? undefined : "its author was not a member";
    // A redeem: the grant must be valid, in the redeemer's past, open there, and the proof right.
    if (op.kind !== "redeem") return "unknown kind";
    const grantKey = op.grant.toString();
    const grant = view.grants.get(grantKey);
    if (!grant || !past.has(grantKey)) return "it redeems no grant it had seen";
    if (!grant.open) return grant.kind === "code" ? "the share code was already used or cancelled" : "the passphrase access was switched off or replaced";
    if (grant.entry.op.kind === "code" && op.at > grant.entry.op.expires) return "the share code had expired";
    if (!this.#checks.proofValid(entry, grant.entry)) return "its proof does not match the grant";
    if (view.members.has(author)) return "its author was a member already";
    return undefined;
  }

  /** Rule 2 over the authorized entries: what the removals and demotions overrule. */
  #overruled(valid: ReadonlySet<string>): Overruled {
    const fallen: Overruled = new Map();
    const cuts: Array<{ device: DeviceFingerprint; entry: string; role: Role | undefined }> = [];
    for (const cid of valid) {
      const { op } = this.#entries.get(cid)!;
      if (op.kind === "remove") cuts.push({ device: op.member, entry: cid, role: undefined });
      else if (op.kind === "role") cuts.push({ device: op.member, entry: cid, role: op.role });
    }
    if (cuts.length === 0) return fallen;
    for (const cid of valid) {
      const entry = this.#entries.get(cid)!;
      if (entry.op.kind === "remove" || entry.op.kind === "found") continue;
      for (const cut of cuts) {
        if (cut.device !== entry.author.fingerprint || cut.entry === cid) continue;
        if (this.#pasts.get(cut.entry)!.has(cid)) continue; // the cut saw it: it stands
        if (this.#pasts.get(cid)!.has(cut.entry)) continue; // written after the cut: rule 1 judged it
        const needsAdmin = NEEDS_ADMIN.has(entry.op.kind);
        if (cut.role === undefined) fallen.set(cid, { reason: "written concurrently with its author's removal", cut: cut.entry });
        else if (needsAdmin && cut.role !== "admin") fallen.set(cid, { reason: "written concurrently with its author's demotion", cut: cut.entry });
      }
    }
    return fallen;
  }

  /** The state made of the entries `include` accepts, applied in log order. */
  #replay(include: (cid: string) => boolean): ReplayState {
    const state = new ReplayState();
    for (const entry of this.#order) if (include(entry.cid.toString())) state.apply(entry, this.#checks, (a, b) => this.#pasts.get(b)?.has(a) === true);
    state.finish();
    return state;
  }

  /** Topological order (parents first, ties by CID) of the complete entries, and their causal pasts. */
  #computeOrder(): void {
    const pasts = new Map<string, Set<string>>();
    const order: Entry[] = [];
    const pending = [...this.#entries.values()].sort((a, b) => compareCids(a.cid, b.cid));
    let progress = true;
    while (progress) {
      progress = false;
      const ready: Entry[] = [];
      for (const entry of pending) {
        if (pasts.has(entry.cid.toString())) continue;
        if (entry.parents.every((p) => pasts.has(p.toString()))) ready.push(entry);
      }
      // One generation at a time keeps the order deterministic (CID order within it).
      for (const entry of ready) {
        const past = new Set<string>();
        for (const parent of entry.parents) {
          past.add(parent.toString());
          for (const p of pasts.get(parent.toString())!) past.add(p);
        }
        pasts.set(entry.cid.toString(), past);
        order.push(entry);
        progress = true;
      }
    }
    this.#pasts = pasts;
    this.#order = order;
  }

  #heads(): CID[] {
    const named = new Set<string>();
    for (const entry of this.#order) for (const p of entry.parents) named.add(p.toString());
    return this.#order.filter((e) => !named.has(e.cid.toString())).map((e) => e.cid).sort(compareCids);
  }

  #empty(reasons: Map<string, string>): Resolution {
    return {
      valid: new Set(),
      refused: [...reasons].map(([cid, reason]) => ({ entry: this.#entries.get(cid)!.cid, reason })),
      members: new Map(),
      removed: new Set(),
      cutoffs: new Map(),
      epochs: [],
      current: undefined,
      grants: new Map(),
      heads: [],
      contested: [],
    };
  }
}

/** Mutable state while replaying valid entries in order. */
class ReplayState {
  readonly members = new Map<DeviceFingerprint, Member>();
  readonly removed = new Set<DeviceFingerprint>();
  readonly cutoffs = new Map<DeviceFingerprint, Cutoff[]>();
  readonly epochs = new Map<string, { epoch: number; key: Fingerprint; holders: Set<DeviceFingerprint>; wraps: Map<DeviceFingerprint, { record: Uint8Array; entry: CID; from: DevicePublic }> }>();
  readonly grants = new Map<string, AccessGrant>();
  /** Passphrase grants in force (a newer one, or a switch-off, replaces them). */
  #passes: string[] = [];

  apply(entry: Entry, checks: GrantChecks, precedes: (a: string, b: string) => boolean): void {
    const { op } = entry;
    const author = entry.author.fingerprint;
    switch (op.kind) {
      case "found":
        this.#join(entry.author, "admin", author, entry.cid);
        this.#grant(op.grant, entry);
        break;
      case "add":
        if (!this.members.has(op.member.fingerprint)) this.#join(op.member, op.role, author, entry.cid);
        for (const grant of op.grants) this.#grant(grant, entry);
        break;
      case "remove": {
        this.removed.add(op.member);
        this.members.delete(op.member);
        this.#cut(op.member, { entry: entry.cid, role: undefined, heads: op.cutoff });
        this.#grant(op.grant, entry);
        // Codes and passphrases granted before the removal are cancelled.
        for (const [key, grant] of this.grants) if (precedes(key, entry.cid.toString())) this.grants.set(key, { ...grant, open: false });
        break;
      }
      case "role": {
        const member = this.members.get(op.member);
        if (member) this.members.set(op.member, { ...member, role: op.role });
        this.#cut(op.member, { entry: entry.cid, role: op.role, heads: op.cutoff });
        break;
      }
      case "key":
        this.#grant(op.grant, entry);
        break;
      case "code":
        this.grants.set(entry.cid.toString(), { entry, kind: "code", role: op.role, keys: checks.keysOf(entry), open: true });
        break;
      case "pass":
        for (const key of this.#passes) this.grants.set(key, { ...this.grants.get(key)!, open: false });
        this.#passes = [];
        if (op.role !== null) {
          this.grants.set(entry.cid.toString(), { entry, kind: "pass", role: op.role, keys: checks.keysOf(entry), open: true });
          this.#passes.push(entry.cid.toString());
        }
        break;
      case "redeem": {
        const grant = this.grants.get(op.grant.toString());
        if (!grant) break;
        if (grant.kind === "code") this.grants.set(op.grant.toString(), { ...grant, open: false });
        this.#join(entry.author, grant.role, author, entry.cid);
        for (const key of grant.keys) for (const epoch of this.epochs.values()) if (epoch.key === key) epoch.holders.add(author);
        break;
      }
      case "join":
        break;
    }
  }

  /** Removed devices are never members, whatever order the entries came in. */
  finish(): void {
    for (const device of this.removed) this.members.delete(device);
  }

  #join(device: DevicePublic, role: Role, addedBy: DeviceFingerprint, via: CID): void {
    if (this.removed.has(device.fingerprint)) return;
    this.members.set(device.fingerprint, { device, role, addedBy, via });
  }

  #cut(device: DeviceFingerprint, cutoff: Cutoff): void {
    const list = this.cutoffs.get(device);
    if (list) list.push(cutoff);
    else this.cutoffs.set(device, [cutoff]);
  }

  #grant(grant: KeyGrant, entry: Entry): void {
    const id = `${grant.epoch}/${grant.key}`;
    let epoch = this.epochs.get(id);
    if (!epoch) this.epochs.set(id, (epoch = { epoch: grant.epoch, key: grant.key, holders: new Set([entry.author.fingerprint]), wraps: new Map() }));
    epoch.holders.add(entry.author.fingerprint);
    for (const wrap of grant.wraps) {
      epoch.holders.add(wrap.to);
      if (!epoch.wraps.has(wrap.to)) epoch.wraps.set(wrap.to, { record: wrap.record, entry: entry.cid, from: entry.author });
    }
  }
}
