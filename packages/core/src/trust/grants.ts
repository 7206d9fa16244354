/**
 * Key grants: a data key of a sync point wrapped for member devices inside
 * a membership entry (./entry.ts), and unwrapped by them. The wrapping is
 * the device record of `crypto/wrap.ts` (static-static ECDH P-256, HKDF,
 * AES-GCM inside the keyring); what this module adds is where the record
 * belongs: its associated data names the point (or, for the founding
 * entry, its nonce), the epoch, the key and the recipient, so a record
 * cannot be lifted into another grant, point or device.
 *
 * An unwrapped key is accepted only if the record was wrapped by the
 * entry's author (whose signature made the entry valid): the record's
 * `from` must be the author's agreement key.
 *
 * Portable.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { toBase64Url, toHex } from "../crypto/encoding.js";
import { unwrapFromDevice, wrapForDevice } from "../crypto/wrap.js";
import type { DataKey, Fingerprint, Keyring } from "../keyring/types.js";
import type { DevicePublic, DeviceFingerprint } from "./device.js";
import type { Entry, KeyGrant } from "./entry.js";

/** Where a grant's records belong: the point id, or `found:<nonce>` inside the founding entry (which has no id yet). */
export function grantPlace(entry: Pick<Entry, "op" | "point">): string {
  if (entry.op.kind === "found") return `found:${toHex(entry.op.nonce)}`;
  if (!entry.point) throw new TypeError("an entry other than the founding one names its point");
  return entry.point.toString();
}

/** The associated data of one wrapped key in a grant. */
export function grantContext(place: string, epoch: number, key: Fingerprint, to: DeviceFingerprint): string {
  return `hearth/grant/v1/${place}/${epoch}/${key}/${to}`;
}

/** Wraps the key `key` of `epoch` (held by `keyring`) for each of `members`. */
export async function wrapGrant(keyring: Keyring, place: string, epoch: number, key: Fingerprint, members: readonly DevicePublic[]): Promise<KeyGrant> {
  const wraps: Array<{ to: DeviceFingerprint; record: Uint8Array }> = [];
  for (const member of members) {
    const record = await wrapForDevice(keyring, key, toBase64Url(member.agreementKey), grantContext(place, epoch, key, member.fingerprint));
    wraps.push({ to: member.fingerprint, record });
  }
  return { epoch, key, wraps };
}

/**
 * Unwraps this device's record of a grant into the keyring.
 * @throws HearthError `INTEGRITY` if the record is damaged, not for this key,
 *   or not wrapped by `author`; `KEY_REQUIRED` if it is for another device.
 */
export async function unwrapGrant(
  keyring: Keyring, record: Uint8Array, place: string, epoch: number, key: Fingerprint, me: DeviceFingerprint, author: DevicePublic, label: string,
): Promise<DataKey> {
  const { key: unwrapped, from } = await unwrapFromDevice(keyring, record, grantContext(place, epoch, key, me), label);
  if (from.publicKey !== toBase64Url(author.agreementKey)) {
    throw new HearthError("INTEGRITY", `a key in membership entry by ${author.fingerprint} was wrapped by another device; it was planted, and is ignored`);
  }
  if (unwrapped.fingerprint !== key) throw new HearthError("INTEGRITY", `a grant of key ${key} holds key ${unwrapped.fingerprint}; it is ignored`);
  return unwrapped;
}
