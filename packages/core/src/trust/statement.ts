/**
 * Write statements: how a device vouches, at one sync point, for events it
 * wrote. A statement names the point, its author, the membership position
 * the author wrote at (the log heads it had seen), the CIDs of the events,
 * and the author's data heads when it pushed them; the author signs it. Members merge an event only if a valid
 * statement by its author (the `a` field inside the event, part of its CID)
 * covers it, so nobody, the sync point included, can write in a member's
 * name or slip other data under its statement.
 *
 * ```
 * statement: { b: body bytes, s: signature }                  (dag-cbor)
 * body:      { v: 2, pt: point id, a: author device(130), m: [log heads], e: [event CIDs], h: [data heads] }
 * signature: ECDSA P-256 (P1363) by the author over "hearth/statement/v2\0" ‖ body
 * ```
 *
 * Why one signature per push rather than per event: signing costs ~25 µs,
 * which on every `put` would slow sequential writes by half; a push signs
 * once for all the events it carries, off the write path.
 *
 * Statements travel inside sealed bundles, so the sync point does not even
 * learn who wrote what. A push's announcement carries its last statement
 * too: the heads it announces are the statement's, so readers know who
 * announced them (heads announced by a device since removed are not
 * waited for).
 *
 * Portable.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha256 } from "@noble/hashes/sha2.js";
import { HearthError } from "../errors.js";
import { bytesEqual, concatBytes, toHex } from "../crypto/encoding.js";
import { SIGNATURE_BYTES, type Signer } from "../crypto/signing.js";
import { compareCids } from "../crdt/event.js";
import { deviceBytes, deviceFromBytes, type DevicePublic } from "./device.js";

const DOMAIN = new TextEncoder().encode("hearth/statement/v2\0");
const MAX_EVENTS = 100_000;
const MAX_ANCHOR = 1024;
const MAX_HEADS = 1024;

/** A decoded, signature-checked statement. */
export interface Statement {
  readonly point: CID;
  readonly author: DevicePublic;
  /** The membership log heads the author wrote at. */
  readonly anchor: readonly CID[];
  /** The events it vouches for. */
  readonly events: readonly CID[];
  /** The author's data heads when it pushed them (what its announcement announces). */
  readonly heads: readonly CID[];
  /** Its bytes, as stored (kept to pass on unchanged). */
  readonly bytes: Uint8Array;
  /** A short id of its bytes (hex), for caches. */
  readonly id: string;
}

/** What a statement says, before it is signed. */
export interface StatementBody {
  readonly point: CID;
  readonly author: DevicePublic;
  readonly anchor: readonly CID[];
  readonly events: readonly CID[];
  readonly heads: readonly CID[];
}

/** Signs a statement for `body.events` by `body.author`. */
export async function signStatement(body: StatementBody, signingKey: CryptoKey, signer: Signer): Promise<Statement> {
  const { point, author } = body;
  const [anchor, events, heads] = [sorted(body.anchor), sorted(body.events), sorted(body.heads)];
  const encoded = dagCbor.encode({ v: 2, pt: point, a: deviceBytes(author), m: anchor, e: events, h: heads });
  const signature = await signer.sign(signingKey, concatBytes(DOMAIN, encoded));
  const bytes = dagCbor.encode({ b: encoded, s: signature });
  return { point, author, anchor, events, heads, bytes, id: statementId(bytes) };
}

/**
 * Decodes and checks a statement.
 * @throws HearthError `INTEGRITY` for a malformed statement or one whose signature fails.
 */
export async function openStatement(bytes: Uint8Array, signer: Signer): Promise<Statement> {
  if (!(bytes instanceof Uint8Array)) throw malformed("it is not bytes");
  const outer = canonicalMap(bytes);
  if (Object.keys(outer).sort().join() !== "b,s" || !(outer.b instanceof Uint8Array) || !(outer.s instanceof Uint8Array) || outer.s.length !== SIGNATURE_BYTES) {
    throw malformed("it is not a signed body");
  }
  const body = canonicalMap(outer.b);
  if (Object.keys(body).sort().join() !== "a,e,h,m,pt,v" || body.v !== 2) throw malformed("its fields are not a version-2 statement's");
  const point = CID.asCID(body.pt);
  if (!point) throw malformed("its point is not a CID");
  if (!(body.a instanceof Uint8Array)) throw malformed("its author is not a device");
  const author = deviceFromBytes(body.a);
  const anchor = cids(body.m, MAX_ANCHOR, "anchor");
  const events = cids(body.e, MAX_EVENTS, "events");
  const heads = cids(body.h, MAX_HEADS, "heads");
  if (!(await signer.verify(author.verifyKey, outer.s, concatBytes(DOMAIN, outer.b)))) {
    throw new HearthError("INTEGRITY", "a write statement is not signed by the device it names; it was forged or altered, and its events were not merged");
  }
  return { point, author, anchor, events, heads, bytes, id: statementId(bytes) };
}

/** The short id (hex) of a statement's bytes: equal bytes, equal id. Computed without checking anything. */
export function statementId(bytes: Uint8Array): string {
  return toHex(sha256(bytes).subarray(0, 16));
}

function sorted(list: readonly CID[]): CID[] {
  const out = [...list].sort(compareCids);
  return out.filter((cid, i) => i === 0 || !cid.equals(out[i - 1]!));
}

function canonicalMap(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = dagCbor.decode(bytes);
  } catch (cause) {
    throw malformed("it is not dag-cbor", cause);
  }
  if (!bytesEqual(dagCbor.encode(value), bytes)) throw malformed("it is not canonical dag-cbor");
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array || CID.asCID(value)) throw malformed("it is not a map");
  return value as Record<string, unknown>;
}

function cids(value: unknown, max: number, what: string): CID[] {
  if (!Array.isArray(value) || value.length > max) throw malformed(`its ${what} are not a list`);
  const list = value.map((v) => {
    const cid = CID.asCID(v);
    if (!cid) throw malformed(`its ${what} are not CIDs`);
    return cid;
  });
  for (let i = 1; i < list.length; i++) if (compareCids(list[i - 1]!, list[i]!) >= 0) throw malformed(`its ${what} are not sorted, once each`);
  return list;
}

function malformed(why: string, cause?: unknown): HearthError {
  return new HearthError("INTEGRITY", `a write statement is malformed (${why}); its events were not merged`, { cause });
}
