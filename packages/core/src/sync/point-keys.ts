/**
 * The keys of one sync point: which data key seals what this replica
 * pushes, which keys open what it pulls, and how keys reach other devices.
 *
 * A sync point has one current data key, named by the sync point (its
 * records live at the sync point, under `key/`), never by a local ledger
 * name — the root of Fireproof's `keysbyfingerprint:get: not found`. Records:
 *
 * - `key/d/<epoch>-<key fp>/<device fp>`: the key wrapped for one device
 *   (ECDH to its public key). The creator writes one for itself; `invite`
 *   writes one for another device; rotation writes one per remaining member.
 * - `key/s/<id>`: every key of the point wrapped with a one-time share code;
 *   deleted by the device that redeems it (which then writes its own
 *   device record).
 * - `key/p/<epoch>-<key fp>`: a key wrapped with a passphrase, when the
 *   point was created (or rotated) by a replica attached with one.
 *
 * The epoch orders keys: a replica seals with the highest-epoch key it
 * holds (ties: the smaller fingerprint, so two replicas that raced to
 * create a point's first key agree on one once they see both). Each
 * record's name is its associated data, so a record cannot be moved to
 * another name or point and still open.
 *
 * Attach finds a key in this order: the device keyring (same device: no
 * ceremony), a device record for this device (an invite), the share code,
 * the passphrase; and otherwise fails at once with `KEY_REQUIRED`, naming
 * the sync point and both remedies.
 *
 * Trust: the remote never sees a key unwrapped. It can withhold or delete
 * records, and — since device public keys are public — it could plant a
 * record wrapped by an identity of its own; a record names (authenticated)
 * the device that wrapped it. Signing key records by members is future work.
 *
 * @module
 */
import { HearthError, isHearthError } from "../errors.js";
import type { DataKey, Fingerprint, Keyring } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import { describePublicKey } from "../crypto/identity.js";
import { fromBase64Url } from "../crypto/encoding.js";
import {
  createShareSecret, describeKeyRecord, parseShareCode, unwrapFromDevice, unwrapWithPassphrase, unwrapWithSecret, wrapForDevice,
  wrapWithPassphrase, wrapWithSecret,
} from "../crypto/wrap.js";

const KEY_PREFIX = "key/";
const DEVICE_PREFIX = "key/d/";
const SHARE_PREFIX = "key/s/";
const PASSPHRASE_PREFIX = "key/p/";

interface PointKey {
  readonly epoch: number;
  readonly fingerprint: Fingerprint;
  key?: DataKey;
  /** The device that wrapped this device's record of the key (its creator or rotator), if known. */
  wrapper?: string;
  /**
   * The key's creator finished handing it out: its own record, written
   * last, exists. Only complete keys seal new data, so an interrupted
   * rotation strands nobody.
   */
  complete?: boolean;
}

/** How attach obtains a key for a device that is not a member yet. */
export interface JoinOptions {
  readonly shareCode?: string;
  readonly passphrase?: string;
}

/**
 * Small local bookkeeping for one sync point, kept in the ledger's own
 * store: it remembers keys this replica withdrew, even when the remote
 * refused to delete their records.
 */
export interface KeyMemo {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
}

/** See the module docs. */
export class PointKeys {
  readonly #remote: Remote;
  readonly #keyring: Keyring;
  readonly #passphrase: string | undefined;
  readonly #memo: KeyMemo;
  readonly #keys = new Map<Fingerprint, PointKey>();
  /** Names of every key record seen at the last refresh. */
  #records: string[] = [];
  #refreshing: Promise<void> | undefined;
  #me!: { publicKey: string; fingerprint: string };
  /** Called when a key was added (items sealed with it can now be read). */
  onKeysChanged: () => void = () => undefined;

  private constructor(remote: Remote, keyring: Keyring, passphrase: string | undefined, memo: KeyMemo) {
    this.#remote = remote;
    this.#keyring = keyring;
    this.#passphrase = passphrase;
    this.#memo = memo;
  }

  /**
   * Finds (or, for an empty sync point, creates) this device's key for the point.
   * @throws HearthError `KEY_REQUIRED` naming the point and the remedies
   */
  static async open(remote: Remote, keyring: Keyring, options: JoinOptions, memo: KeyMemo): Promise<PointKeys> {
    if (options.shareCode !== undefined && typeof options.shareCode !== "string") throw new TypeError("shareCode must be a string");
    if (options.passphrase !== undefined && (typeof options.passphrase !== "string" || options.passphrase.length === 0)) {
      throw new TypeError("passphrase must be a non-empty string");
    }
    const keys = new PointKeys(remote, keyring, options.passphrase, memo);
    const identity = await keyring.identity();
    keys.#me = { publicKey: identity.publicKey, fingerprint: identity.fingerprint };
    await keys.#refresh();
    if (keys.#keys.size === 0) {
      if ((await remote.list("bundle/")).length > 0 || (await remote.list("head/")).length > 0) {
        throw new HearthError(
          "INTEGRITY",
          `sync point ${remote.url} holds data but no key records: it was not written by Hearth, or its key/ records were deleted; it cannot be joined`,
        );
      }
      const created = await keys.#create(1);
      await keys.#refresh();
      await keys.#yieldIfRaced(created);
    }
    if (keys.#held().length === 0 && options.shareCode !== undefined) await keys.#redeemShareCode(options.shareCode);
    if (keys.#held().length === 0 && options.passphrase !== undefined) await keys.#redeemPassphrase(options.passphrase);
    if (keys.#held().length === 0) throw keys.#keyRequired();
    return keys;
  }

  /** The key new bundles and announcements are sealed with. */
  writeKey(): DataKey {
    const held = this.#held().filter((k) => k.complete);
    if (held.length === 0) throw this.#keyRequired();
    held.sort((a, b) => b.epoch - a.epoch || (a.fingerprint < b.fingerprint ? -1 : 1));
    return held[0]!.key!;
  }

  /**
   * The key with this fingerprint: held (a `DataKey`), a key of this point
   * this device lacks (`"missing"`), or not a key of this point (`"foreign"`).
   */
  async keyFor(fingerprint: Fingerprint): Promise<DataKey | "foreign" | "missing"> {
    const known = this.#keys.get(fingerprint);
    if (known?.key) return known.key;
    // An unknown key may be a rotation this replica has not seen yet: look
    // again before calling it foreign. Concurrent lookups share one refresh.
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    await this.#refreshing;
    const now = this.#keys.get(fingerprint);
    return now?.key ?? (now ? "missing" : "foreign");
  }

  /** Wraps every key of the point this device holds for the device with `publicKey`. */
  async invite(publicKey: string): Promise<void> {
    const fingerprint = await publicKeyFingerprint(publicKey);
    for (const k of this.#held()) {
      const name = deviceRecordName(k, fingerprint);
      await this.#remote.put(name, await wrapForDevice(this.#keyring, k.fingerprint, publicKey, name));
    }
  }

  /** Creates a one-time share code carrying every key of the point this device holds. */
  async createShareCode(): Promise<string> {
    const { code, id, secret } = createShareSecret();
    const name = SHARE_PREFIX + id;
    await this.#remote.put(name, await wrapWithSecret(this.#keyring, this.#held().map((k) => k.fingerprint), secret, name));
    return code;
  }

  /**
   * Makes a new key of the next epoch and wraps it for every member device
   * (every device with a record of the current keys) except `revoke`d ones.
   */
  async rotate(revoke: readonly string[]): Promise<void> {
    if (!Array.isArray(revoke) || !revoke.every((r) => typeof r === "string")) throw new TypeError("revoke must be an array of device public keys or fingerprints");
    await this.#refresh();
    const revoked = new Set<string>();
    for (const r of revoke) revoked.add(/^[0-9a-f]{32}$/.test(r) ? r : await publicKeyFingerprint(r));
    if (revoked.has(this.#me.fingerprint)) throw new HearthError("INVALID_ARGUMENT", "a device cannot revoke itself; rotate from another member");
    const members = await this.#members();
    const epoch = Math.max(0, ...[...this.#keys.values()].map((k) => k.epoch)) + 1;
    const key = await this.#keyring.createKey(this.#label(), { shareable: true });
    const created: PointKey = { epoch, fingerprint: key.fingerprint };
    // Every member's record first; this device's own record last marks the
    // key complete. Until then nobody seals with it, so a rotation cut short
    // (and retried with a fresh key) leaves no member unable to read.
    for (const [fingerprint, publicKey] of members) {
      if (revoked.has(fingerprint) || fingerprint === this.#me.fingerprint) continue;
      const name = deviceRecordName(created, fingerprint);
      await this.#remote.put(name, await wrapForDevice(this.#keyring, created.fingerprint, publicKey, name));
    }
    await this.#recordFor(key, epoch);
    this.#keys.set(key.fingerprint, { ...created, key, complete: true });
    // Share codes made before the rotation would hand the old keys to whoever redeems them; retire them.
    for (const name of this.#records) if (name.startsWith(SHARE_PREFIX)) await this.#remote.delete(name);
    await this.#refresh();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Two devices that find a point empty at the same moment both create a
   * key, and neither could read the other's data: a silent fork. Whoever
   * sees a key it cannot read right after creating its own withdraws its
   * key and fails with `KEY_REQUIRED`. Seeing is monotonic, so at least one
   * of two racers sees the other; if both do, both withdraw and the next
   * attach starts clean — never two keys that exclude each other.
   */
  async #yieldIfRaced(created: PointKey): Promise<void> {
    const rivals = [...this.#keys.values()].filter((k) => k.fingerprint !== created.fingerprint && k.key === undefined);
    if (rivals.length === 0) return;
    // Remembered locally first: if the remote refuses the deletes below, a
    // later attach must still not take the withdrawn key back.
    await this.#memo.put(withdrawnKey(created.fingerprint), new Uint8Array(0));
    delete created.key;
    for (const name of this.#records) {
      if (parseRecordName(name)?.fingerprint !== created.fingerprint) continue;
      await this.#remote.delete(name).catch((err: unknown) => {
        if (!isHearthError(err, "STORAGE_FAILED")) throw err;
      });
    }
    throw new HearthError(
      "KEY_REQUIRED",
      `another device created sync point ${this.#remote.url} at the same moment, with a key this device does not hold. ` +
        `Ask a member to run db.invite("${this.#me.publicKey}") or for a share code, then attach again.`,
    );
  }

  #held(): PointKey[] {
    return [...this.#keys.values()].filter((k) => k.key !== undefined);
  }

  #keyRequired(): HearthError {
    return new HearthError(
      "KEY_REQUIRED",
      `sync point ${this.#remote.url} is encrypted with a key this device does not hold. Either ask a member to run ` +
        `db.invite("${this.#me.publicKey}") and attach again, or ask a member for a share code (attachment.createShareCode()) ` +
        `and attach with { shareCode }.`,
    );
  }

  /** Lists the key records and unwraps any key wrapped for this device that the keyring lacks. */
  async #refresh(): Promise<void> {
    this.#records = await this.#remote.list(KEY_PREFIX);
    const names = new Set(this.#records);
    let added = false;
    for (const name of this.#records) {
      const parsed = parseRecordName(name);
      if (!parsed) continue;
      let entry = this.#keys.get(parsed.fingerprint);
      if (!entry) this.#keys.set(parsed.fingerprint, (entry = { epoch: parsed.epoch, fingerprint: parsed.fingerprint }));
      if (entry.key || (await this.#memo.get(withdrawnKey(parsed.fingerprint)))) continue;
      const key = await this.#keyring.getKey(parsed.fingerprint);
      if (key) {
        entry.key = key;
        added = true;
      } else if (parsed.device === this.#me.fingerprint) {
        const bytes = await this.#remote.get(name);
        if (!bytes) continue;
        try {
          const unwrapped = await unwrapFromDevice(this.#keyring, bytes, name, this.#label());
          entry.key = unwrapped.key;
          entry.wrapper = unwrapped.from.fingerprint;
          added = true;
        } catch (err) {
          // A planted or damaged record must not stop the others from working.
          if (!isHearthError(err, "INTEGRITY") && !isHearthError(err, "KEY_REQUIRED")) throw err;
        }
      }
    }
    for (const entry of this.#keys.values()) {
      if (!entry.key || entry.complete) continue;
      // The creator writes its own record last; without a known wrapper, this device's own record stands in.
      entry.complete = names.has(deviceRecordName(entry, entry.wrapper ?? this.#me.fingerprint));
    }
    if (added) this.onKeysChanged();
  }

  /** Creates a key of `epoch`, records it for this device (and the passphrase), and holds it. */
  async #create(epoch: number): Promise<PointKey> {
    const key = await this.#keyring.createKey(this.#label(), { shareable: true });
    await this.#recordFor(key, epoch);
    const entry: PointKey = { epoch, fingerprint: key.fingerprint, key, complete: true };
    this.#keys.set(key.fingerprint, entry);
    return entry;
  }

  /** Writes the passphrase record (if attached with one), then this device's own record of `key`. */
  async #recordFor(key: DataKey, epoch: number): Promise<void> {
    if (this.#passphrase !== undefined) {
      const pname = `${PASSPHRASE_PREFIX}${epochText(epoch)}-${key.fingerprint}`;
      await this.#remote.put(pname, await wrapWithPassphrase(this.#keyring, [key.fingerprint], this.#passphrase, pname));
    }
    const name = deviceRecordName({ epoch, fingerprint: key.fingerprint }, this.#me.fingerprint);
    await this.#remote.put(name, await wrapForDevice(this.#keyring, key.fingerprint, this.#me.publicKey, name));
  }

  async #redeemShareCode(code: string): Promise<void> {
    const { id, secret } = parseShareCode(code);
    const name = SHARE_PREFIX + id;
    const bytes = await this.#remote.get(name);
    if (!bytes) {
      throw new HearthError(
        "KEY_REQUIRED",
        `share code is not valid at sync point ${this.#remote.url}: it was already used, retired by a key rotation, or made for another sync point; ask a member for a new one`,
      );
    }
    const keys = await unwrapWithSecret(this.#keyring, bytes, secret, name, this.#label());
    await this.#adopt(keys);
    await this.#remote.delete(name);
  }

  async #redeemPassphrase(passphrase: string): Promise<void> {
    const keys: DataKey[] = [];
    for (const name of this.#records.filter((n) => n.startsWith(PASSPHRASE_PREFIX))) {
      const bytes = await this.#remote.get(name);
      if (bytes) keys.push(...(await unwrapWithPassphrase(this.#keyring, bytes, passphrase, name, this.#label())));
    }
    await this.#adopt(keys);
  }

  /** Records keys obtained by code or passphrase for this device, so it needs neither again. */
  async #adopt(keys: DataKey[]): Promise<void> {
    for (const key of keys) {
      const entry = this.#keys.get(key.fingerprint);
      if (!entry) continue; // not a key of this point
      entry.key = key;
      entry.complete = true;
      const name = deviceRecordName(entry, this.#me.fingerprint);
      await this.#remote.put(name, await wrapForDevice(this.#keyring, key.fingerprint, this.#me.publicKey, name));
    }
    this.onKeysChanged();
  }

  /** Member devices (fingerprint → public key), read from the device records' public headers. */
  async #members(): Promise<Map<string, string>> {
    const members = new Map<string, string>([[this.#me.fingerprint, this.#me.publicKey]]);
    for (const name of this.#records) {
      const parsed = parseRecordName(name);
      if (!parsed?.device || members.has(parsed.device)) continue;
      const bytes = await this.#remote.get(name);
      if (!bytes) continue;
      try {
        const header = describeKeyRecord(bytes);
        if (header.toKey && (await publicKeyFingerprint(header.toKey)) === parsed.device) members.set(parsed.device, header.toKey);
      } catch (err) {
        if (!isHearthError(err, "INTEGRITY")) throw err;
      }
    }
    return members;
  }

  #label(): string {
    return `sync point ${this.#remote.url}`;
  }
}

/** Memo key marking a key this replica withdrew. */
function withdrawnKey(fingerprint: Fingerprint): string {
  return `withdrawn/${fingerprint}`;
}

function epochText(epoch: number): string {
  return String(epoch).padStart(6, "0");
}

function deviceRecordName(key: Pick<PointKey, "epoch" | "fingerprint">, device: string): string {
  return `${DEVICE_PREFIX}${epochText(key.epoch)}-${key.fingerprint}/${device}`;
}

/** Parses `key/d/<epoch>-<fp>/<device>` and `key/p/<epoch>-<fp>`; undefined for anything else. */
function parseRecordName(name: string): { epoch: number; fingerprint: Fingerprint; device?: string } | undefined {
  const match = /^key\/(?:d\/(\d{6})-([0-9a-f]{32})\/([0-9a-f]{32})|p\/(\d{6})-([0-9a-f]{32}))$/.exec(name);
  if (!match) return undefined;
  if (match[1] !== undefined) return { epoch: Number(match[1]), fingerprint: match[2] as Fingerprint, device: match[3]! };
  return { epoch: Number(match[4]), fingerprint: match[5] as Fingerprint };
}

async function publicKeyFingerprint(publicKey: string): Promise<string> {
  if (typeof publicKey !== "string") throw new TypeError("a device public key is a string (device.publicKey of the other device)");
  let raw: Uint8Array;
  try {
    raw = fromBase64Url(publicKey);
  } catch (cause) {
    throw new HearthError("INVALID_ARGUMENT", `${JSON.stringify(publicKey)} is not a device public key; copy it from the other device's db.device()`, { cause });
  }
  if (raw.length !== 65 || raw[0] !== 4) {
    throw new HearthError("INVALID_ARGUMENT", `${JSON.stringify(publicKey)} is not a device public key (an uncompressed P-256 point); copy it from the other device's db.device()`);
  }
  return (await describePublicKey(raw)).fingerprint;
}
