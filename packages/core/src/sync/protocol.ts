/**
 * What sync writes at a remote, and how it is checked when read back.
 *
 * - `bundle/<cid>`: a sealed, immutable batch of event blocks and the
 *   write statements that vouch for them (`trust/statement.ts`). `<cid>` is
 *   the SHA-256 CID (raw codec) of the *ciphertext*, so anyone — the sync
 *   server included — can verify a bundle without the key.
 * - `head/<cid>`: a sealed, immutable announcement: the writer's heads at
 *   push time, the bundles it just stored, and the signed write statement
 *   of the last of them, which names those heads (so readers know who
 *   announced them); a small push's events ride along inline so a watcher that receives the announcement with its
 *   change notification merges them with no further request). Readers
 *   take the union of all announcements; none is ever overwritten, so no
 *   writer can hide another's heads (Fireproof's single overwritten meta
 *   pointer did exactly that).
 *
 * Both are sealed with the sync point's data key (see `point-keys.ts`) in
 * the standard envelope, with a per-kind associated-data string so a bundle
 * cannot be passed off as an announcement or the reverse. The plaintext is
 * dag-cbor, framed for optional deflate like local values, then padded
 * (see {@link paddedLength}) so that the sizes the sync point sees say
 * little about the sizes of the writes:
 *
 * ```
 * sealed plaintext = frame length (u32, big-endian) ‖ frame ‖ zero bytes
 * ```
 *
 * Reading checks, in order: the name's CID matches the bytes (`INTEGRITY`:
 * tampered or truncated), the envelope's key belongs to this sync point
 * (`INTEGRITY`: foreign), this device holds that key (`KEY_REQUIRED`), the
 * envelope authenticates (`INTEGRITY`), the plaintext has the right shape
 * (`INTEGRITY`), and — in the ledger — every event matches its CID.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import * as raw from "multiformats/codecs/raw";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { create as createDigest } from "multiformats/hashes/digest";
import { HearthError } from "../errors.js";
import { equalBytes } from "../codec/block.js";
import { seal, unseal, readEnvelopeFingerprint } from "../crypto/envelope.js";
import { frameValue, unframeValue, type Compression } from "../crypto/compression.js";
import type { AeadCipher } from "../crypto/cipher.js";
import type { DataKey, Fingerprint } from "../keyring/types.js";
import { BUNDLE_PREFIX, HEAD_PREFIX } from "./layout.js";

export { BUNDLE_PREFIX, HEAD_PREFIX } from "./layout.js";

const BUNDLE_AAD = new TextEncoder().encode("hearth/bundle/v3");
const HEAD_AAD = new TextEncoder().encode("hearth/head/v4");
/** Bytes of the frame length in front of a padded plaintext. */
const LENGTH_BYTES = 4;
/** Every sealed plaintext is at least this long: small writes all look alike. */
export const MIN_PADDED_BYTES = 512;

/**
 * The length a plaintext of `length` bytes is padded to: at least
 * {@link MIN_PADDED_BYTES}, and above that the Padmé rule (Nikitin et
 * al., "Reducing metadata leakage from encrypted files and communication
 * with PURBs", 2019): round up so that only the top ⌊log₂ E⌋ + 1 bits of
 * the length vary, where E = ⌊log₂ length⌋. At most 12 % more bytes (and
 * less as values grow), while a length reveals only O(log log length)
 * bits: a 10,000-byte bundle shares its size with 511 others, a 1 MB one
 * with 16,383.
 */
export function paddedLength(length: number): number {
  if (length <= MIN_PADDED_BYTES) return MIN_PADDED_BYTES;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const mask = 2 ** (e - s) - 1;
  return Math.ceil(length / (mask + 1)) * (mask + 1);
}

/** What a bundle holds: events, and the write statements that vouch for them (`trust/statement.ts`). */
export interface BundleContent {
  /** Event block bytes; each one's CID is recomputed from its bytes on ingest. */
  readonly events: readonly Uint8Array[];
  /** Signed statements (bytes) covering every event, each by the event's author. */
  readonly statements: readonly Uint8Array[];
}

/** An announcement: "I hold these heads; these bundles are new from me". */
export interface Announcement {
  /** The writer's heads when it pushed. */
  readonly heads: readonly CID[];
  /** Names of the bundles this push stored (`bundle/<cid>`). */
  readonly bundles: readonly string[];
  /** The signed statements of its last bundle; the writer's names {@link heads} (checked by the reader). */
  readonly statements: readonly Uint8Array[];
  /**
   * The content of the one bundle in `bundles`, repeated here when it is
   * small (see {@link INLINE_EVENT_BYTES}): a reader that got this
   * announcement from a watch merges it without fetching the bundle. The
   * bundle is still stored, for readers that come later.
   */
  readonly inline?: BundleContent;
}

/** A bundle's content is inlined in its announcement when it is one bundle of at most this many event bytes. */
export const INLINE_EVENT_BYTES = 3_000;

/** Seals values for one sync point and opens what is read back. */
export interface SealContext {
  /** Looks up a key of this sync point; see {@link openSealed} for the outcomes. */
  keyFor(fingerprint: Fingerprint): Promise<DataKey | "foreign" | "missing">;
  readonly cipher?: AeadCipher;
  readonly compression?: Compression;
  /** Named in error messages. */
  readonly pointUrl: string;
}

/** Seals a bundle; returns its remote name and bytes. */
export async function sealBundle(ctx: SealContext, key: DataKey, content: BundleContent): Promise<{ name: string; bytes: Uint8Array }> {
  return sealNamed(ctx, key, BUNDLE_PREFIX, BUNDLE_AAD, dagCbor.encode({ v: 2, e: content.events, s: content.statements }));
}

/**
 * Seals an announcement; returns its remote name and bytes. `last` is the
 * last bundle's content: its statements always go along, its events too
 * when there is one bundle and they are small enough.
 */
export async function sealAnnouncement(
  ctx: SealContext, key: DataKey, heads: readonly CID[], bundles: readonly string[], last: BundleContent,
): Promise<{ name: string; bytes: Uint8Array }> {
  const inline = bundles.length === 1 && last.events.reduce((n, e) => n + e.length, 0) <= INLINE_EVENT_BYTES;
  const value = inline ? { v: 2, h: heads, b: bundles, i: last.events, s: last.statements } : { v: 2, h: heads, b: bundles, s: last.statements };
  return sealNamed(ctx, key, HEAD_PREFIX, HEAD_AAD, dagCbor.encode(value));
}

/** Opens a bundle read from the remote under `name`; see the module docs for the checks. */
export async function openBundle(ctx: SealContext, name: string, bytes: Uint8Array): Promise<BundleContent> {
  const value = (await openSealed(ctx, name, bytes, BUNDLE_PREFIX, BUNDLE_AAD)) as Record<string, unknown> | null;
  if (value?.v !== 2 || !isBytesList(value.e) || !isBytesList(value.s)) {
    throw new HearthError("INTEGRITY", `${name} at ${ctx.pointUrl} is not a well-formed bundle (or one of an older Hearth); it was not merged`);
  }
  return { events: value.e, statements: value.s };
}

/** Opens an announcement read from the remote under `name`. */
export async function openAnnouncement(ctx: SealContext, name: string, bytes: Uint8Array): Promise<Announcement> {
  const value = (await openSealed(ctx, name, bytes, HEAD_PREFIX, HEAD_AAD)) as Record<string, unknown> | null;
  const { h, b, i, s } = value ?? {};
  if (
    value?.v !== 2 ||
    !Array.isArray(h) || !h.every((x) => CID.asCID(x) !== null) ||
    !Array.isArray(b) || !b.every((x) => typeof x === "string" && x.startsWith(BUNDLE_PREFIX)) ||
    !isBytesList(s) || s.length === 0 ||
    (i !== undefined && (b.length !== 1 || !isBytesList(i)))
  ) {
    throw new HearthError("INTEGRITY", `${name} at ${ctx.pointUrl} is not a well-formed announcement (or one of an older Hearth); it was ignored`);
  }
  return {
    heads: h.map((x) => CID.asCID(x)!),
    bundles: b as string[],
    statements: s,
    ...(i !== undefined && { inline: { events: i as Uint8Array[], statements: s } }),
  };
}

function isBytesList(value: unknown): value is Uint8Array[] {
  return Array.isArray(value) && value.every((x) => x instanceof Uint8Array);
}

async function sealNamed(
  ctx: SealContext, key: DataKey, prefix: string, aad: Uint8Array, plaintext: Uint8Array,
): Promise<{ name: string; bytes: Uint8Array }> {
  const bytes = await seal(key, pad(frameValue(plaintext, ctx.compression)), aad, ctx.cipher);
  return { name: prefix + (await contentName(bytes)), bytes };
}

/** The frame behind its length, zero-padded to {@link paddedLength}. */
function pad(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(LENGTH_BYTES + frame.length));
  new DataView(out.buffer).setUint32(0, frame.length);
  out.set(frame, LENGTH_BYTES);
  return out;
}

/** The frame inside a padded plaintext; `undefined` if its length does not fit (never, for authenticated data Hearth wrote). */
function unpad(padded: Uint8Array): Uint8Array | undefined {
  if (padded.length < LENGTH_BYTES) return undefined;
  const length = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  return LENGTH_BYTES + length <= padded.length ? padded.subarray(LENGTH_BYTES, LENGTH_BYTES + length) : undefined;
}

/** The CID (raw codec, SHA-256, base32) naming `bytes`. */
export async function contentName(bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString();
}

/** {@link contentName} from the SHA-256 digest of the bytes (for bytes hashed as they stream). */
export function contentNameOfDigest(sha256Digest: Uint8Array): string {
  return CID.createV1(raw.code, createDigest(sha256.code, sha256Digest)).toString();
}

/** The errors {@link openSealed} threw for a key the membership log does not grant (see {@link isUnknownKeyError}). */
const unknownKeyErrors = new WeakSet<HearthError>();

/**
 * True for the `INTEGRITY` error of a value sealed with a key no entry of
 * the membership log this device has read grants. That is what data a
 * sync point planted looks like, but also what a member's first write
 * under a new key looks like to a device whose listing of the log does not
 * show the rotation yet (an eventually consistent store): such items are
 * tried again when the membership changes, not rejected for good.
 */
export function isUnknownKeyError(err: unknown): boolean {
  return err instanceof HearthError && unknownKeyErrors.has(err);
}

/**
 * Verifies and decrypts a named, sealed value.
 * @throws HearthError `INTEGRITY` (tampered, truncated, foreign, malformed) or `KEY_REQUIRED`
 */
async function openSealed(ctx: SealContext, name: string, bytes: Uint8Array, prefix: string, aad: Uint8Array): Promise<unknown> {
  const where = `${name} at sync point ${ctx.pointUrl}`;
  let expected: CID;
  try {
    expected = CID.parse(name.slice(prefix.length));
  } catch (cause) {
    throw new HearthError("INTEGRITY", `${where} is not named by a CID; it is not Hearth data and was ignored`, { cause });
  }
  const digest = await sha256.digest(bytes);
  if (expected.code !== raw.code || expected.multihash.code !== sha256.code || !equalBytes(digest.digest, expected.multihash.digest)) {
    throw new HearthError("INTEGRITY", `${where} does not match its content address: it was altered or truncated at the remote and was not merged`);
  }
  const fingerprint = readEnvelopeFingerprint(bytes);
  const key = await ctx.keyFor(fingerprint);
  if (key === "foreign") {
    const err = new HearthError(
      "INTEGRITY",
      `${where} is sealed with key ${fingerprint}, which no membership entry this device has read grants: it is foreign data, or the grant has not reached this device yet; it was not merged, and is tried again when the membership changes`,
    );
    unknownKeyErrors.add(err);
    throw err;
  }
  if (key === "missing") {
    throw new HearthError(
      "KEY_REQUIRED",
      `${where} is sealed with key ${fingerprint} of this sync point, which this device does not hold (it was rotated without this device, or the invite has not arrived); ask a member to invite this device again`,
    );
  }
  const framed = unpad(await unseal(key, bytes, aad, ctx.cipher));
  if (framed === undefined) throw new HearthError("INTEGRITY", `${where} is not padded as Hearth pads; it was not merged`);
  const plaintext = await unframeValue(framed, ctx.compression, where);
  try {
    return dagCbor.decode(plaintext);
  } catch (cause) {
    throw new HearthError("INTEGRITY", `${where} does not hold valid dag-cbor`, { cause });
  }
}
