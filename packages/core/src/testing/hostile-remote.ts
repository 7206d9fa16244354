/**
 * A sync point that attacks its users, for tests of Hearth's trust rules.
 * Everything it does, a sync point's operator (or anyone with a read-write
 * token) could do: it holds the bytes, sees every name, may write any name,
 * delete any name, and show each client something different. It has no key
 * and no member's signing key; it has an identity of its own, which nobody
 * invited.
 *
 * ```ts
 * const point = new HostileSyncPoint(await openMemoryRemote("memory://p"));
 * const a = await dbA.attach(point.view("a"));   // each client gets its own view
 * await point.plantKey();                        // and the attacks run between writes
 * ```
 *
 * The attacks (each returns what it did, for the test's log):
 * - {@link plantKey}: a key grant of a new epoch, wrapped for every member
 *   it sees in the log, signed by its own identity, plus an announcement
 *   and a bundle sealed with that key that set a document;
 * - {@link plantMember}: an entry adding its identity as an admin, and a
 *   founding entry of a point of its own;
 * - {@link forgeWrite}: events claiming to be by a member, with a statement
 *   it signs (or one with a member's name and a bad signature);
 * - {@link replay}: puts back everything it has seen deleted (announcements
 *   collected, entries withdrawn, bundles);
 * - {@link rollback}: deletes the newest membership entries;
 * - {@link withhold}: deletes some bundles, announcements and file blocks;
 * - {@link corruptFiles}: alters file blocks under their names, and stores
 *   one block's bytes under another's name;
 * - {@link poisonLamport}: a member's stolen device writes an event of lamport 2^53 − 1;
 * - {@link split}: hides some names (file blocks too) from one client's view only;
 *   {@link hideNewFrom}: hides everything new from it (a consistent split);
 * - {@link garbage}: malformed names, bodies that are not what their names
 *   say, oversized bodies;
 * - {@link insider}: with the keyring of a device that was a member (a
 *   removed one, say), writes as it: sealed with a key it holds, under a
 *   statement it signs, at a log position before its removal (backdated)
 *   or after it.
 *
 * Browser-safe.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { createEvent } from "../crdt/event.js";
import { fromHex, toHex } from "../crypto/encoding.js";
import { readEnvelopeFingerprint } from "../crypto/envelope.js";
import { webCryptoSigner } from "../crypto/signing.js";
import { openMemoryKeyring } from "../keyring/memory.js";
import type { DataKey, DeviceIdentity, Keyring } from "../keyring/types.js";
import type { Remote, RemoteChangeListener } from "../remote/types.js";
import { deviceOf, type DevicePublic } from "../trust/device.js";
import { decodeEntry, ENTRY_PREFIX, entryName, signEntry, type Entry } from "../trust/entry.js";
import { wrapGrant } from "../trust/grants.js";
import { signStatement } from "../trust/statement.js";
import { sealAnnouncement, sealBundle, type SealContext } from "../sync/protocol.js";
import { rng } from "./rng.js";

/** What an attack did, for the test's log. */
export interface AttackReport {
  readonly attack: string;
  readonly names: readonly string[];
}

/** The document field an attacker's writes set, so a test can look for it anywhere. */
export const FORGED_MARK = "forged-by-the-sync-point";

/** See the module docs. */
export class HostileSyncPoint {
  readonly #store: Remote;
  readonly #random: () => number;
  readonly #hidden = new Map<string, Set<string>>();
  /** Everything ever seen at the store, by name (to replay what gets deleted). */
  readonly #seen = new Map<string, Uint8Array>();
  /** Keys it planted (to check that nobody honest ever sealed with one). */
  readonly plantedKeys: DataKey[] = [];
  #keyring: Keyring | undefined;
  #identity: DeviceIdentity | undefined;
  /** Names it wrote itself. */
  readonly #planted = new Set<string>();

  /** @param store - the real storage every view shares */
  constructor(store: Remote, seed = 1) {
    this.#store = store;
    this.#random = rng(seed);
  }

  /** The sync point as client `client` sees it: the store, less what {@link split} hides from it. */
  view(client: string): Remote {
    const store = this.#store;
    const hidden = (name: string): boolean => this.#hidden.get(client)?.has(name) === true;
    return {
      url: store.url,
      supports: store.supports,
      put: async (name, bytes) => {
        this.#seen.set(name, bytes.slice());
        await store.put(name, bytes);
      },
      get: async (name) => (hidden(name) ? undefined : store.get(name)),
      list: async (prefix) => (await store.list(prefix)).filter((n) => !hidden(n)),
      delete: (name) => store.delete(name),
      ...(store.watch && {
        watch: (prefix: string, fn: RemoteChangeListener) => store.watch!(prefix, (changes) => fn(changes?.filter((c) => !hidden(c.name)))),
      }),
      close: async () => undefined,
    };
  }

  /** Stops hiding anything from anyone. */
  revealAll(): void {
    this.#hidden.clear();
  }

  /** A key grant of a new epoch by its own identity, wrapped for the members it sees, and data sealed with it. */
  async plantKey(): Promise<AttackReport> {
    const { keyring, me } = await this.#self();
    const { log, point } = await this.#log();
    if (!point) return { attack: "plantKey", names: [] };
    const members = new Map<string, DevicePublic>();
    for (const entry of log) {
      if (entry.op.kind === "found" || entry.op.kind === "redeem" || entry.op.kind === "join") members.set(entry.author.fingerprint, entry.author);
      if (entry.op.kind === "add") members.set(entry.op.member.fingerprint, entry.op.member);
    }
    members.set(me.fingerprint, me);
    const epoch = 1 + Math.max(0, ...log.flatMap((e) => (e.op.kind === "found" || e.op.kind === "remove" || e.op.kind === "key" ? [e.op.grant.epoch] : [])));
    const key = await keyring.createKey("planted", { shareable: true });
    this.plantedKeys.push(key);
    const grant = await wrapGrant(keyring, point.toString(), epoch, key.fingerprint, [...members.values()]);
    const entry = await signEntry({ point, parents: heads(log), op: { kind: "key", grant } }, me, (await keyring.identity()).signingKey, webCryptoSigner);
    await this.#put(entryName(entry.cid), entry.bytes);
    const names = [entryName(entry.cid), ...(await this.#sealedWrite(key, point, me, log))];
    return { attack: "plantKey", names };
  }

  /** An entry adding itself as an admin, and a founding of its own. */
  async plantMember(): Promise<AttackReport> {
    const { keyring, me, identity } = await this.#self();
    const { log, point } = await this.#log();
    const names: string[] = [];
    if (point) {
      const add = await signEntry({ point, parents: heads(log), op: { kind: "add", member: me, role: "admin", grants: [] } }, me, identity.signingKey, webCryptoSigner);
      await this.#put(entryName(add.cid), add.bytes);
      names.push(entryName(add.cid));
    }
    const key = await keyring.createKey("founding", { shareable: true });
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const grant = await wrapGrant(keyring, `found:${toHex(nonce)}`, 1, key.fingerprint, [me]);
    const found = await signEntry({ parents: [], op: { kind: "found", nonce, grant } }, me, identity.signingKey, webCryptoSigner);
    await this.#put(entryName(found.cid), found.bytes);
    names.push(entryName(found.cid));
    return { attack: "plantMember", names };
  }

  /**
   * Writes claiming to be by a member: events naming the member as author,
   * under a statement signed by the attacker, and under one that names the
   * member with the attacker's signature; sealed with a planted key (it has
   * no other).
   */
  async forgeWrite(): Promise<AttackReport> {
    const { keyring, me } = await this.#self();
    const { log, point } = await this.#log();
    if (!point) return { attack: "forgeWrite", names: [] };
    const victim = log.find((e) => e.op.kind === "found")?.author ?? me;
    const key = this.plantedKeys[0] ?? (await keyring.createKey("forging", { shareable: true }));
    if (!this.plantedKeys.includes(key)) this.plantedKeys.push(key);
    return { attack: "forgeWrite", names: await this.#sealedWrite(key, point, me, log, victim) };
  }

  /** Puts back every name it has seen that is gone from the store. */
  async replay(): Promise<AttackReport> {
    const names: string[] = [];
    for (const prefix of [ENTRY_PREFIX, "bundle/", "head/", "file/"]) {
      const present = new Set(await this.#store.list(prefix));
      for (const [name, bytes] of this.#seen) {
        if (!name.startsWith(prefix) || present.has(name)) continue;
        await this.#store.put(name, bytes);
        names.push(name);
      }
    }
    return { attack: "replay", names };
  }

  /** Deletes the newest membership entries (the heads of the log, and their parents once). */
  async rollback(): Promise<AttackReport> {
    await this.#remember();
    const { log } = await this.#log();
    const newest = heads(log);
    const names = newest.map(entryName);
    for (const name of names) await this.#store.delete(name);
    return { attack: "rollback", names };
  }

  /** Deletes a random share (about a third) of the bundles, announcements and file blocks. */
  async withhold(): Promise<AttackReport> {
    await this.#remember();
    const names: string[] = [];
    for (const prefix of ["bundle/", "head/", "file/"]) {
      for (const name of await this.#store.list(prefix)) {
        if (this.#random() >= 1 / 3) continue;
        await this.#store.delete(name);
        names.push(name);
      }
    }
    return { attack: "withhold", names };
  }

  /** Hides a random share (about half) of the bundles, announcements, entries and file blocks from `client` only. */
  async split(client: string): Promise<AttackReport> {
    const names: string[] = [];
    const hidden = this.#hidden.get(client) ?? new Set<string>();
    for (const prefix of ["bundle/", "head/", ENTRY_PREFIX, "file/"]) {
      for (const name of await this.#store.list(prefix)) {
        if (this.#random() >= 0.5) continue;
        hidden.add(name);
        names.push(name);
      }
    }
    this.#hidden.set(client, hidden);
    return { attack: `split(${client})`, names };
  }

  /**
   * Hides every bundle and announcement (and membership entry, with
   * `entries`) stored since `since` (a listing taken earlier with
   * {@link names}) from `client` only: a consistent split view, in which
   * that client sees an older history that looks complete.
   */
  async hideNewFrom(client: string, since: ReadonlySet<string>, entries = false): Promise<AttackReport> {
    const hidden = this.#hidden.get(client) ?? new Set<string>();
    const names = (await this.names(entries)).filter((n) => !since.has(n));
    for (const name of names) hidden.add(name);
    this.#hidden.set(client, hidden);
    return { attack: `hideNewFrom(${client})`, names };
  }

  /** Every bundle and announcement stored now (and membership entry, with `entries`). */
  async names(entries = false): Promise<string[]> {
    return [...(await this.#store.list("bundle/")), ...(await this.#store.list("head/")), ...(entries ? await this.#store.list(ENTRY_PREFIX) : [])];
  }

  /** Malformed names, bodies that are not what their names say, an oversized body. */
  async garbage(): Promise<AttackReport> {
    const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
    const junk = random(64);
    const named = async (prefix: string, bytes: Uint8Array): Promise<string> => prefix + CID.createV1(0x55, await sha256.digest(bytes)).toString();
    const entries: Array<[string, Uint8Array]> = [
      ["m/not-a-cid", junk],
      [`m/${CID.createV1(dagCbor.code, await sha256.digest(junk))}`, random(32)], // bytes that do not match the name
      [await named("bundle/", junk), junk], // matches its name, is no bundle
      [await named("head/", junk), junk],
      ["head/not-a-cid", junk],
      [await named("bundle/", random(1)), new Uint8Array(2_000_000).fill(7)], // oversized, and not what its name says
      [await named("file/", junk), junk], // matches its name, is no block anyone refers to
      ["file/not-a-cid", junk],
    ];
    for (const [name, bytes] of entries) await this.#put(name, bytes);
    return { attack: "garbage", names: entries.map(([n]) => n) };
  }

  /**
   * Alters the bytes of a random share (about half, at least one) of the
   * file blocks it holds, under their names; and, where there are two,
   * stores one block's bytes under another's name.
   */
  async corruptFiles(): Promise<AttackReport> {
    await this.#remember();
    const names = await this.#store.list("file/");
    const hit: string[] = [];
    for (const [i, name] of names.entries()) {
      if (i > 0 && this.#random() >= 0.5) continue;
      const bytes = await this.#store.get(name);
      if (!bytes || bytes.length === 0) continue;
      bytes[Math.floor(this.#random() * bytes.length)]! ^= 0x5a;
      await this.#store.put(name, bytes);
      hit.push(name);
    }
    if (names.length >= 2) {
      const other = await this.#store.get(names[1]!);
      if (other) {
        await this.#store.put(names[0]!, other);
        hit.push(names[0]!);
      }
    }
    return { attack: "corruptFiles", names: hit };
  }

  /** Writes as the device whose keyring it holds (see the module docs); `backdate` picks the position before its removal. */
  async insider(keyring: Keyring, backdate: boolean, padBytes = 0): Promise<AttackReport> {
    const identity = await keyring.identity();
    const me = deviceOf(identity);
    const { log, point } = await this.#log();
    if (!point) return { attack: "insider", names: [] };
    const held = await keyring.listKeys();
    const granted = log.flatMap((e) => (e.op.kind === "found" || e.op.kind === "remove" || e.op.kind === "key" ? [e.op.grant.key] : []));
    const fingerprint = held.find((k) => granted.includes(k));
    const key = fingerprint && (await keyring.getKey(fingerprint));
    if (!key) return { attack: "insider", names: [] };
    const removal = log.find((e) => e.op.kind === "remove" && e.op.member === me.fingerprint);
    const position = backdate && removal ? log.filter((e) => e !== removal && !removal.parents.some((p) => p.equals(e.cid)) && isAncestor(e, removal, log)) : log;
    const names = await this.#sealedWrite(key, point, me, position.length > 0 ? position : log, me, identity, 1, padBytes);
    return { attack: `insider(${backdate ? "backdated" : "current"})`, names };
  }

  /**
   * A member's own device (its `keyring`, e.g. stolen) writes a validly
   * signed event whose lamport is 2^53 − 1: were it merged, it would win
   * every conflict and make every later lamport unrepresentable.
   */
  async poisonLamport(keyring: Keyring): Promise<AttackReport> {
    const identity = await keyring.identity();
    const { log, point } = await this.#log();
    if (!point) return { attack: "poisonLamport", names: [] };
    const held = new Set(await keyring.listKeys());
    const granted = log.flatMap((e) => (e.op.kind === "found" || e.op.kind === "remove" || e.op.kind === "key" ? [e.op.grant] : []));
    const newest = granted.filter((g) => held.has(g.key)).sort((a, b) => b.epoch - a.epoch)[0];
    const key = newest && (await keyring.getKey(newest.key));
    if (!key) return { attack: "poisonLamport", names: [] };
    const me = deviceOf(identity);
    const names = await this.#sealedWrite(key, point, me, log, me, identity, Number.MAX_SAFE_INTEGER);
    return { attack: "poisonLamport", names };
  }

  /** True if any bundle or announcement it did not write itself is sealed with a key it planted: a member used it (a leak). */
  async leakedToPlantedKey(): Promise<boolean> {
    const planted = new Set(this.plantedKeys.map((k) => k.fingerprint));
    for (const prefix of ["bundle/", "head/"]) {
      for (const name of await this.#store.list(prefix)) {
        if (this.#planted.has(name)) continue; // its own
        const bytes = await this.#store.get(name);
        if (!bytes) continue;
        try {
          if (planted.has(readEnvelopeFingerprint(bytes))) return true;
        } catch {
          // not an envelope (garbage)
        }
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- internals

  async #put(name: string, bytes: Uint8Array): Promise<void> {
    this.#planted.add(name);
    this.#seen.set(name, bytes);
    await this.#store.put(name, bytes);
  }

  /** Notes everything at the store, so it can be replayed after it is deleted. */
  async #remember(): Promise<void> {
    for (const prefix of [ENTRY_PREFIX, "bundle/", "head/", "file/"]) {
      for (const name of await this.#store.list(prefix)) {
        if (this.#seen.has(name)) continue;
        const bytes = await this.#store.get(name);
        if (bytes) this.#seen.set(name, bytes);
      }
    }
  }

  async #self(): Promise<{ keyring: Keyring; identity: DeviceIdentity; me: DevicePublic }> {
    this.#keyring ??= await openMemoryKeyring();
    this.#identity ??= await this.#keyring.identity();
    return { keyring: this.#keyring, identity: this.#identity, me: deviceOf(this.#identity) };
  }

  /** Every well-formed entry at the store, and the point of the oldest founding it sees (the real one, usually). */
  async #log(): Promise<{ log: Entry[]; point: CID | undefined }> {
    await this.#remember();
    const log: Entry[] = [];
    for (const name of await this.#store.list(ENTRY_PREFIX)) {
      const bytes = await this.#store.get(name);
      if (!bytes || this.#planted.has(name)) continue;
      try {
        log.push(await decodeEntry(bytes, webCryptoSigner));
      } catch {
        // garbage
      }
    }
    const point = log.find((e) => e.op.kind !== "found")?.point ?? log.find((e) => e.op.kind === "found")?.cid;
    return { log: log.filter((e) => point && (e.point?.equals(point) || e.cid.equals(point))), point };
  }

  /** A bundle and an announcement sealed with `key`, setting a document, by `author` (claimed) under a statement `signer` signs. */
  async #sealedWrite(
    key: DataKey, point: CID, signer: DevicePublic, log: readonly Entry[], author: DevicePublic = signer, as?: DeviceIdentity, lamport = 1, padBytes = 0,
  ): Promise<string[]> {
    const identity = as ?? (await this.#self()).identity;
    const seal: SealContext = { pointUrl: this.#store.url, keyFor: async () => key };
    const body = { [FORGED_MARK]: true, balance: 0, ...(padBytes > 0 && { pad: "p".repeat(padBytes) }) };
    const event = await createEvent([], lamport, [{ i: "target", d: body, s: [] }], fromHex(author.fingerprint));
    const statement = await signStatement({ point, author: signer, anchor: heads(log), events: [event.cid], heads: [event.cid] }, identity.signingKey, webCryptoSigner);
    const content = { events: [event.bytes], statements: [statement.bytes] };
    const bundle = await sealBundle(seal, key, content);
    const head = await sealAnnouncement(seal, key, [event.cid], [bundle.name], content);
    await this.#put(bundle.name, bundle.bytes);
    await this.#put(head.name, head.bytes);
    return [bundle.name, head.name];
  }
}

/** True when `entry` is in the causal past of `of` (within `log`). */
function isAncestor(entry: Entry, of: Entry, log: readonly Entry[]): boolean {
  const byCid = new Map(log.map((e) => [e.cid.toString(), e]));
  const queue = [...of.parents];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const cid = queue.pop()!.toString();
    if (cid === entry.cid.toString()) return true;
    if (seen.has(cid)) continue;
    seen.add(cid);
    queue.push(...(byCid.get(cid)?.parents ?? []));
  }
  return false;
}

/** The heads of a set of entries (those no other names as a parent). */
function heads(log: readonly Entry[]): CID[] {
  const named = new Set(log.flatMap((e) => e.parents.map(String)));
  return log.filter((e) => !named.has(e.cid.toString())).map((e) => e.cid);
}

/**
 * A hostile sync point over `store` (any Remote that holds its data):
 * `hostileRemote(store).view("client")` is the Remote a replica attaches
 * to; the returned point runs the attacks.
 *
 * @example
 * ```ts
 * const point = hostileRemote(await openMemoryRemote("memory://p"));
 * const a = await db.attach(point.view("a"));
 * await point.plantKey();
 * ```
 */
export function hostileRemote(store: Remote, seed = 1): HostileSyncPoint {
  return new HostileSyncPoint(store, seed);
}
