/**
 * Membership log entries: the signed, content-addressed records that say
 * who belongs to a sync point, in which role, and which data key is whose.
 * This module is the wire boundary: entries are encoded from, and decoded
 * into, the named types below; short field names exist only on the wire.
 *
 * ```
 * stored at m/<cid>:  { b: body bytes, s: signature }          (dag-cbor)
 * cid:                CIDv1, dag-cbor, SHA-256 of the stored bytes
 * signature:          ECDSA P-256 (P1363) by the author over "hearth/entry/v1\0" ‖ body
 * body:               { v: 1, pt?: point id, p: parents, a: author, t: kind, …kind fields }
 *
 * found   n: nonce(16)          k: grant                    the point's first entry; its CID is the point id
 * add     m: device(130)        r: role     k: [grant]      a member, with the keys it may read
 * remove  m: fingerprint        h: [cid]    k: grant        removal (sticky) and the next key, for the rest
 * role    m: fingerprint        r: role     h: [cid]        a new role; h: data heads seen, for demotions
 * key     k: grant                                          a rotation, or an epoch's key for more members
 * code    r: role  x: expires   y: key(65)  w: sealed keys   a one-time share code
 * pass    r: role | null   y: key(65)  w: sealed keys  z: salt(16)  n: scrypt log2 N
 *                                                           passphrase access (null role: switched off, nothing else)
 * redeem  g: cid   at: time     q: proof(64)                a code or passphrase redeemed by its author
 * join    (nothing)                                         a member says it has joined (its first own entry)
 *
 * grant   { e: epoch, f: key fingerprint, w: [{ t: device fingerprint, r: wrapped key record }] }
 * device  agreement key(65) ‖ verify key(65); fingerprint: ./device.ts
 * ```
 *
 * Decoding is strict, because the sync point is not trusted: canonical
 * dag-cbor only (one entry, one encoding), exactly the fields of its kind
 * with exactly these types and sizes, parents sorted and unique, and a
 * signature that verifies under the author key the entry carries. Whether
 * the author was *allowed* to write it is the log's question (./log.ts).
 *
 * Portable.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { HearthError } from "../errors.js";
import { bytesEqual, concatBytes } from "../crypto/encoding.js";
import { isFingerprint } from "../crypto/fingerprint.js";
import { SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES, type Signer } from "../crypto/signing.js";
import type { Fingerprint } from "../keyring/types.js";
import { compareCids } from "../crdt/event.js";
import { deviceBytes, deviceFromBytes, isDeviceFingerprint, type DeviceFingerprint, type DevicePublic } from "./device.js";
import { strictDecoder } from "../codec/strict.js";

const { malformed, asMap, exactFields, bytesField } = strictDecoder("membership entry");

/** Name prefix of membership entries at a remote. */
export const ENTRY_PREFIX = "m/";
/** Roles, strongest first: admins change membership and keys, writers write, readers read. */
export const ROLES = ["admin", "writer", "reader"] as const;
/** A member's role. */
export type Role = (typeof ROLES)[number];

const SIGNATURE_DOMAIN = new TextEncoder().encode("hearth/entry/v1\0");
const MAX_ENTRY_BYTES = 512 * 1024;
const MAX_LIST = 4096;
const NONCE_BYTES = 16;

/** One data key epoch, wrapped for some devices. */
export interface KeyGrant {
  readonly epoch: number;
  readonly key: Fingerprint;
  /** The key wrapped for each device (a `device` key record, `crypto/wrap-record.ts`). */
  readonly wraps: ReadonlyArray<{ readonly to: DeviceFingerprint; readonly record: Uint8Array }>;
}

/** What an entry does, by kind. */
export type EntryOp =
  | { readonly kind: "found"; readonly nonce: Uint8Array; readonly grant: KeyGrant }
  | { readonly kind: "add"; readonly member: DevicePublic; readonly role: Role; readonly grants: readonly KeyGrant[] }
  | { readonly kind: "remove"; readonly member: DeviceFingerprint; readonly cutoff: readonly CID[]; readonly grant: KeyGrant }
  | { readonly kind: "role"; readonly member: DeviceFingerprint; readonly role: Role; readonly cutoff: readonly CID[] }
  | { readonly kind: "key"; readonly grant: KeyGrant }
  | { readonly kind: "code"; readonly role: Role; readonly expires: number; readonly verifyKey: Uint8Array; readonly sealed: Uint8Array }
  | { readonly kind: "pass"; readonly role: null }
  | {
      readonly kind: "pass"; readonly role: Role; readonly verifyKey: Uint8Array; readonly sealed: Uint8Array;
      /** scrypt salt and cost (log2 N) that turn the passphrase into the grant's secret. */
      readonly salt: Uint8Array; readonly cost: number;
    }
  | { readonly kind: "redeem"; readonly grant: CID; readonly at: number; readonly proof: Uint8Array }
  | { readonly kind: "join" };

/** The kinds of entries. */
export type EntryKind = EntryOp["kind"];

/** What an author writes: everything but the signature and the derived fields. */
export interface EntryDraft {
  /** The point id; absent only in the founding entry (whose CID becomes the id). */
  readonly point?: CID;
  /** The membership heads the author had seen (empty only for the founding entry). */
  readonly parents: readonly CID[];
  readonly op: EntryOp;
}

/** A decoded, signature-checked entry. */
export interface Entry extends EntryDraft {
  readonly cid: CID;
  readonly author: DevicePublic;
  /** The stored bytes (what the CID addresses). */
  readonly bytes: Uint8Array;
}

/** The remote name of entry `cid`. */
export function entryName(cid: CID): string {
  return ENTRY_PREFIX + cid.toString();
}

/**
 * Signs and encodes `draft` as `author` (whose signing key is `signingKey`).
 *
 * @throws TypeError for a draft that does not satisfy the format (a
 *   programmer mistake; the same checks refuse such entries when read).
 */
export async function signEntry(draft: EntryDraft, author: DevicePublic, signingKey: CryptoKey, signer: Signer): Promise<Entry> {
  const body = dagCbor.encode(bodyOf(draft, author));
  const signature = await signer.sign(signingKey, concatBytes(SIGNATURE_DOMAIN, body));
  const bytes = dagCbor.encode({ b: body, s: signature });
  const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes));
  const entry = await decodeEntry(bytes, signer, cid);
  return entry;
}

/**
 * Decodes and checks an entry read from a remote under `expected` (its
 * name's CID), if known.
 *
 * @throws HearthError `INTEGRITY` for anything but a well-formed entry whose
 *   bytes match `expected` and whose signature verifies under its author.
 */
export async function decodeEntry(bytes: Uint8Array, signer: Signer, expected?: CID): Promise<Entry> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("an entry is bytes");
  if (bytes.length > MAX_ENTRY_BYTES) throw malformed(`it is ${bytes.length} bytes, more than any entry`);
  const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes));
  if (expected && !expected.equals(cid)) throw new HearthError("INTEGRITY", `membership entry ${expected} does not match its content address; it was altered`);
  const outer = asMap(decodeCanonical(bytes, "entry"), "entry");
  exactFields(outer, ["b", "s"]);
  const body = bytesField(outer.b, "body");
  const signature = bytesField(outer.s, "signature", SIGNATURE_BYTES);
  const map = asMap(decodeCanonical(body, "body"), "body");
  if (map.v !== 1) throw malformed(typeof map.v === "number" ? `version ${map.v} is unknown (upgrade Hearth)` : "it has no version");
  const author = deviceFromBytes(bytesField(map.a, "author", 130));
  if (!(await signer.verify(author.verifyKey, signature, concatBytes(SIGNATURE_DOMAIN, body)))) {
    throw new HearthError("INTEGRITY", `membership entry ${cid} is not signed by the device it names; it was forged or altered`);
  }
  const draft = draftOf(map);
  return { ...draft, cid, author, bytes };
}

/** True when `entry` is the founding entry of a point. */
export function isFounding(entry: Entry): boolean {
  return entry.op.kind === "found";
}

// ---------------------------------------------------------------- encoding

function bodyOf(draft: EntryDraft, author: DevicePublic): Record<string, unknown> {
  const { op } = draft;
  const parents = sortedUnique(draft.parents);
  const base: Record<string, unknown> = {
    v: 1,
    ...(draft.point && { pt: draft.point }),
    p: parents,
    a: deviceBytes(author),
    t: op.kind,
  };
  switch (op.kind) {
    case "found":
      return { ...base, n: op.nonce, k: grantWire(op.grant) };
    case "add":
      return { ...base, m: deviceBytes(op.member), r: op.role, k: op.grants.map(grantWire) };
    case "remove":
      return { ...base, m: op.member, h: sortedUnique(op.cutoff), k: grantWire(op.grant) };
    case "role":
      return { ...base, m: op.member, r: op.role, h: sortedUnique(op.cutoff) };
    case "key":
      return { ...base, k: grantWire(op.grant) };
    case "code":
      return { ...base, r: op.role, x: op.expires, y: op.verifyKey, w: op.sealed };
    case "pass":
      return op.role === null ? { ...base, r: null } : { ...base, r: op.role, y: op.verifyKey, w: op.sealed, z: op.salt, n: op.cost };
    case "redeem":
      return { ...base, g: op.grant, at: op.at, q: op.proof };
    case "join":
      return base;
  }
}

function grantWire(grant: KeyGrant): Record<string, unknown> {
  const wraps = [...grant.wraps].sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
  return { e: grant.epoch, f: grant.key, w: wraps.map((w) => ({ t: w.to, r: w.record })) };
}

// ---------------------------------------------------------------- decoding

const KIND_FIELDS: Record<EntryKind, readonly string[]> = {
  found: ["n", "k"],
  add: ["m", "r", "k"],
  remove: ["m", "h", "k"],
  role: ["m", "r", "h"],
  key: ["k"],
  code: ["r", "x", "y", "w"],
  pass: ["r", "y", "w", "z", "n"],
  redeem: ["g", "at", "q"],
  join: [],
};

function draftOf(map: Record<string, unknown>): EntryDraft {
  const kind = map.t;
  if (typeof kind !== "string" || !(kind in KIND_FIELDS)) throw malformed(`its kind ${JSON.stringify(kind)} is unknown`);
  const fields = KIND_FIELDS[kind as EntryKind];
  const base = ["v", "p", "a", "t", ...(kind === "found" ? [] : ["pt"])];
  exactFields(map, kind === "pass" && map.r === null ? [...base, "r"] : [...base, ...fields]);
  const parents = cidList(map.p, "parents");
  if (kind === "found" ? parents.length !== 0 : parents.length === 0) throw malformed(kind === "found" ? "a founding entry has parents" : "it has no parents");
  const point = kind === "found" ? undefined : cidField(map.pt, "point");
  const op = opOf(kind as EntryKind, map);
  return { ...(point && { point }), parents, op };
}

function opOf(kind: EntryKind, map: Record<string, unknown>): EntryOp {
  switch (kind) {
    case "found":
      return { kind, nonce: bytesField(map.n, "nonce", NONCE_BYTES), grant: grantOf(map.k) };
    case "add":
      if (!Array.isArray(map.k) || map.k.length > MAX_LIST) throw malformed("its grants are not a list");
      return { kind, member: deviceFromBytes(bytesField(map.m, "member", 130)), role: roleField(map.r), grants: map.k.map(grantOf) };
    case "remove":
      return { kind, member: deviceFingerprintField(map.m), cutoff: cidList(map.h, "cutoff"), grant: grantOf(map.k) };
    case "role":
      return { kind, member: deviceFingerprintField(map.m), role: roleField(map.r), cutoff: cidList(map.h, "cutoff") };
    case "key":
      return { kind, grant: grantOf(map.k) };
    case "code":
      return {
        kind, role: roleField(map.r), expires: timeField(map.x, "expiry"),
        verifyKey: publicKeyField(map.y), sealed: bytesField(map.w, "sealed keys"),
      };
    case "pass":
      if (map.r === null) return { kind, role: null };
      if (typeof map.n !== "number" || !Number.isSafeInteger(map.n) || map.n < 1 || map.n > 30) throw malformed("its scrypt cost is not an integer");
      return {
        kind, role: roleField(map.r), verifyKey: publicKeyField(map.y), sealed: bytesField(map.w, "sealed keys"),
        salt: bytesField(map.z, "salt", NONCE_BYTES), cost: map.n,
      };
    case "redeem":
      return { kind, grant: cidField(map.g, "grant"), at: timeField(map.at, "time"), proof: bytesField(map.q, "proof", SIGNATURE_BYTES) };
    case "join":
      return { kind };
  }
}

function grantOf(value: unknown): KeyGrant {
  const map = asMap(value, "grant");
  exactFields(map, ["e", "f", "w"]);
  if (typeof map.e !== "number" || !Number.isSafeInteger(map.e) || map.e < 1 || map.e > 1_000_000) throw malformed("its epoch is not a positive integer");
  if (!isFingerprint(map.f)) throw malformed("its key fingerprint is malformed");
  if (!Array.isArray(map.w) || map.w.length > MAX_LIST) throw malformed("its wraps are not a list");
  let previous = "";
  const wraps = map.w.map((w: unknown) => {
    const wrap = asMap(w, "wrap");
    exactFields(wrap, ["t", "r"]);
    const to = deviceFingerprintField(wrap.t);
    if (!(to > previous)) throw malformed("its wraps are not sorted by device, once each");
    previous = to;
    return { to, record: bytesField(wrap.r, "wrapped key") };
  });
  return { epoch: map.e, key: map.f, wraps };
}

function decodeCanonical(bytes: Uint8Array, what: string): unknown {
  let value: unknown;
  try {
    value = dagCbor.decode(bytes);
  } catch (cause) {
    throw malformed(`its ${what} is not dag-cbor`, cause);
  }
  if (!bytesEqual(dagCbor.encode(value), bytes)) throw malformed(`its ${what} is not canonical dag-cbor`);
  return value;
}

function publicKeyField(value: unknown): Uint8Array {
  const bytes = bytesField(value, "verify key", SIGNING_PUBLIC_KEY_BYTES);
  if (bytes[0] !== 4) throw malformed("its verify key is not an uncompressed P-256 point");
  return bytes;
}

function cidField(value: unknown, name: string): CID {
  const cid = CID.asCID(value);
  if (!cid) throw malformed(`its ${name} is not a CID`);
  return cid;
}

function cidList(value: unknown, name: string): CID[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) throw malformed(`its ${name} are not a list of CIDs`);
  const cids = value.map((v) => cidField(v, name));
  for (let i = 1; i < cids.length; i++) if (compareCids(cids[i - 1]!, cids[i]!) >= 0) throw malformed(`its ${name} are not sorted, once each`);
  return cids;
}

function roleField(value: unknown): Role {
  if (!ROLES.includes(value as Role)) throw malformed(`its role ${JSON.stringify(value)} is unknown`);
  return value as Role;
}

function timeField(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw malformed(`its ${name} is not a time`);
  return value;
}

function deviceFingerprintField(value: unknown): DeviceFingerprint {
  if (!isDeviceFingerprint(value)) throw malformed("a device fingerprint is malformed");
  return value;
}

function sortedUnique(cids: readonly CID[]): CID[] {
  const sorted = [...cids].sort(compareCids);
  return sorted.filter((cid, i) => i === 0 || !cid.equals(sorted[i - 1]!));
}
