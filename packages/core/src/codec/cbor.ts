/**
 * A direct dag-cbor encoder and decoder for the values Hearth stores: JSON
 * values, byte arrays and CIDs, written straight into one reused buffer and
 * read straight out of the bytes.
 *
 * Why: every commit encodes an event and every fold encodes tree leaves,
 * and the generic encoder (cborg through `@ipld/dag-cbor`) spends most of
 * its time building tokens and one `Buffer` per string; it was a third of
 * the cost of a bulk write. The output must be byte for byte what
 * `dagCbor.encode` gives (CIDs and convergence depend on it), so this
 * covers only the plain shapes and hands anything else (Maps, class
 * instances, BigInts, `undefined`, NaN, very deep values) to the generic
 * encoder, which also throws the data model's errors. A property test
 * checks the equality.
 *
 * The decoder likewise reads only canonical, well-formed input of those
 * shapes and hands anything else (non-minimal heads, other tags and simple
 * values, big integers, unsorted or duplicate keys, invalid UTF-8, trailing
 * bytes) to `dagCbor.decode`, which then decodes it or throws as before; a
 * property test checks it returns what `dagCbor.decode` returns. Reopening
 * a ledger decodes every tree leaf it reads, and cborg's tokens were most
 * of that time and garbage.
 *
 * The rules it follows (dag-cbor's canonical form): shortest integer heads,
 * safe integers as integers and every other number as a 64-bit float, map
 * keys sorted by UTF-8 length then bytes, CIDs as tag 42 over `0x00` + the
 * CID's bytes.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { Digest } from "multiformats/hashes/digest";
import { SlabCopier } from "./slab.js";

/** Thrown inside the fast path when a value needs the generic encoder. */
const GENERIC = Symbol("generic");

/** Nesting deeper than this goes to the generic encoder (which also detects cycles). */
const MAX_DEPTH = 256;

/** Buffers grown past this are dropped after use rather than kept for the next call. */
const KEEP_BYTES = 1 << 20;

const utf8 = new TextEncoder();
let buf = new Uint8Array(64 * 1024);
let view = new DataView(buf.buffer);
let pos = 0;

/**
 * A value already encoded: {@link encodeDagCbor} writes its bytes as they
 * are, where the value they encode would go.
 *
 * Why: a tree mutation rewrites whole leaves, and most of a rewritten leaf's
 * values are unchanged. Decoding each one into objects only to encode it
 * again was most of the work of a fold under random keys, and most of its
 * garbage. The bytes must be one canonical dag-cbor item (as every value
 * read from a tree leaf Hearth wrote is), or the output is not what the
 * value's own encoding would be.
 */
export class EncodedCbor {
  /** @param bytes - one canonical dag-cbor item (not copied) */
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * Encodes `value` as dag-cbor, byte for byte as `dagCbor.encode(value)`
 * (with every {@link EncodedCbor} in it replaced by what it encodes).
 * @param into - if given, the bytes are a copy it hands out (packed into
 *   its slabs, for bytes kept a while), not a buffer of their own
 * @throws Error for values outside the IPLD data model, as `dagCbor.encode` does
 */
export function encodeDagCbor(value: unknown, into?: SlabCopier): Uint8Array {
  pos = 0;
  try {
    write(value, 0);
  } catch (err) {
    if (err !== GENERIC) throw err;
    const generic = dagCbor.encode(withoutEncoded(value, 0));
    return into ? into.copy(generic) : generic;
  }
  const out = into ? into.copy(buf.subarray(0, pos)) : buf.slice(0, pos);
  if (buf.length > KEEP_BYTES) {
    buf = new Uint8Array(64 * 1024);
    view = new DataView(buf.buffer);
  }
  return out;
}

function reserve(extra: number): void {
  if (pos + extra <= buf.length) return;
  const grown = new Uint8Array(Math.max(buf.length * 2, pos + extra));
  grown.set(buf.subarray(0, pos));
  buf = grown;
  view = new DataView(buf.buffer);
}

/** A head (major type and argument) in its shortest form; `n` a non-negative safe integer. */
function head(major: number, n: number): void {
  reserve(9);
  const m = major << 5;
  if (n < 24) {
    buf[pos++] = m | n;
  } else if (n < 0x100) {
    buf[pos++] = m | 24;
    buf[pos++] = n;
  } else if (n < 0x10000) {
    buf[pos++] = m | 25;
    buf[pos++] = n >>> 8;
    buf[pos++] = n & 0xff;
  } else if (n < 0x100000000) {
    buf[pos++] = m | 26;
    view.setUint32(pos, n);
    pos += 4;
  } else {
    buf[pos++] = m | 27;
    view.setUint32(pos, Math.floor(n / 0x100000000));
    view.setUint32(pos + 4, n >>> 0);
    pos += 8;
  }
}

function writeString(s: string): void {
  const length = s.length;
  // ASCII (ids, keys, most text) is copied char by char; anything else is
  // encoded by TextEncoder, whose output (U+FFFD for lone surrogates) is the
  // generic encoder's too.
  reserve(length + 9);
  const start = pos;
  head(3, length);
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      pos = start;
      const bytes = utf8.encode(s);
      head(3, bytes.length);
      writeBytes(bytes);
      return;
    }
    buf[pos++] = c;
  }
}

function writeBytes(bytes: Uint8Array): void {
  reserve(bytes.length);
  buf.set(bytes, pos);
  pos += bytes.length;
}

function write(value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
      return writeString(value);
    case "number":
      if (Number.isSafeInteger(value)) return value >= 0 ? head(0, value) : head(1, -1 - value);
      if (!Number.isFinite(value)) throw GENERIC;
      reserve(9);
      buf[pos++] = 0xfb;
      view.setFloat64(pos, value);
      pos += 8;
      return;
    case "boolean":
      reserve(1);
      buf[pos++] = value ? 0xf5 : 0xf4;
      return;
    case "object":
      break;
    default:
      throw GENERIC;
  }
  if (value === null) {
    reserve(1);
    buf[pos++] = 0xf6;
    return;
  }
  if (depth > MAX_DEPTH) throw GENERIC;
  if (Array.isArray(value)) {
    head(4, value.length);
    for (let i = 0; i < value.length; i++) write(value[i], depth + 1);
    return;
  }
  // Plain objects first: most of what is encoded (documents, registers).
  // A plain object posing as a CID (`asCID` pointing to itself, or a "/"
  // key) is left to the checks below and the generic encoder, as before.
  const proto = Object.getPrototypeOf(value) as unknown;
  const object = value as Record<string, unknown> & { asCID?: unknown; bytes?: unknown };
  if ((proto === Object.prototype || proto === null) && object.asCID !== object) {
    if ("/" in object) throw GENERIC; // a CID look-alike: the generic encoder decides
    const keys = canonicalKeys(object);
    head(5, keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      writeString(key);
      const v = object[key];
      if (v === undefined) throw GENERIC;
      write(v, depth + 1);
    }
    return;
  }
  if (value instanceof Uint8Array) {
    head(2, value.length);
    writeBytes(value);
    return;
  }
  if (value instanceof EncodedCbor) {
    writeBytes(value.bytes);
    return;
  }
  if (object.asCID === object && object.bytes instanceof Uint8Array) {
    const bytes = object.bytes;
    reserve(2);
    buf[pos++] = 0xd8;
    buf[pos++] = 42;
    head(2, bytes.length + 1);
    reserve(1);
    buf[pos++] = 0;
    writeBytes(bytes);
    return;
  }
  throw GENERIC;
}

/** The keys of an object that has none. */
const NO_KEYS: readonly string[] = [];
/** Key sets whose canonical order was worked out, by their first key (see {@link canonicalKeys}). */
const keyOrders = new Map<string, KeyOrder>();
/** A key set as `Object.keys` listed it, and the same keys in dag-cbor's map order. */
type KeyOrder = readonly [keys: readonly string[], sorted: readonly string[]];
/** Distinct first keys remembered before {@link keyOrders} starts over: bounds it whatever the documents. */
const KEY_ORDERS_MAX = 256;

/**
 * `object`'s own keys in dag-cbor's map order. Objects of one shape (the
 * documents of an app, registers, tree nodes) list the same keys in the
 * same order, so the order worked out for the last key set that began with
 * the same key is reused when the keys match one for one (string
 * comparisons that are mostly pointer checks). With plain objects tested
 * first, encoding a leaf of 30 registers went from ~1.16 to ~0.98 µs an
 * entry. Bounded by {@link KEY_ORDERS_MAX} whatever shapes the documents have.
 */
function canonicalKeys(object: object): readonly string[] {
  // The keys as `for…in` yields them, matched against the last key set that began with the same
  // key, make no array: `Object.keys` made one for every object encoded, most of what encoding a
  // document allocated. Own keys come first, in `Object.keys`' order; a key past them (inherited)
  // or not own fails the match, and the keys are listed as before.
  let known: KeyOrder | undefined;
  let count = 0;
  let matched = true;
  for (const key in object) {
    if (count === 0) known = keyOrders.get(key);
    if (known === undefined || known[0][count] !== key || !Object.hasOwn(object, key)) {
      matched = false;
      break;
    }
    count++;
  }
  if (matched && count === 0) return NO_KEYS;
  if (matched && known![0].length === count) return known![1];
  const keys = Object.keys(object);
  if (keys.length === 0) return NO_KEYS; // only inherited keys
  const sorted = keys.length < 2 ? keys : sortedKeys(keys.slice());
  if (keyOrders.size >= KEY_ORDERS_MAX) keyOrders.clear();
  keyOrders.set(keys[0]!, [keys, sorted]);
  return sorted;
}

/** `value` with each {@link EncodedCbor} decoded, for the generic encoder (arrays and plain objects are copied; anything else is left to it). */
function withoutEncoded(value: unknown, depth: number): unknown {
  if (value instanceof EncodedCbor) return dagCbor.decode(value.bytes);
  if (typeof value !== "object" || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => withoutEncoded(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = withoutEncoded(item, depth + 1);
  return out;
}

/** Keys in dag-cbor's map order: shorter UTF-8 first, then bytewise. */
function sortedKeys(keys: string[]): string[] {
  let ascii = true;
  for (const key of keys) {
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) break;
  }
  if (!ascii) {
    const encoded = new Map(keys.map((k) => [k, utf8.encode(k)]));
    return keys.sort((a, b) => compareUtf8(encoded.get(a)!, encoded.get(b)!));
  }
  // Insertion sort: objects have a handful of keys, often already in order,
  // and Array.prototype.sort allocates work arrays on every call.
  if (keys.length > 32) return keys.sort(compareAscii);
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && compareAscii(keys[j]!, key) > 0) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

function compareAscii(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

// ---------------------------------------------------------------- decoding

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY: Uint8Array = new Uint8Array(0);
let input = EMPTY;
let at = 0;
/** CIDs are views of the input rather than copies (see {@link decodeDagCbor}'s `cidViews`). */
let cidViews = false;

/**
 * Decodes the one dag-cbor item that starts at `offset` in `bytes` (which
 * may hold more after it) and says where it ends: a scan that reads a tree
 * leaf's values in order learns each one's end by decoding it, instead of
 * skipping through them all first. What the fast path leaves alone goes
 * to the generic decoder, on the item's bytes found by skipping (which
 * refuses non-canonical items, as a tree leaf's layout check always has).
 * @throws Error for bytes that are not one canonical dag-cbor item there
 */
export function decodeDagCborItem(bytes: Uint8Array, offset: number): { readonly value: unknown; readonly end: number } {
  input = bytes;
  at = offset;
  cidViews = false;
  try {
    const value = read(0);
    if (at > bytes.length) throw GENERIC;
    return { value, end: at };
  } catch {
    const ends = new Uint32Array(1);
    skipDagCborItems(bytes, offset, ends);
    return { value: dagCbor.decode(bytes.subarray(offset, ends[0]!)), end: ends[0]! };
  } finally {
    input = EMPTY;
  }
}

/**
 * Decodes dag-cbor `bytes`, returning what `dagCbor.decode(bytes)` returns.
 *
 * `cidViews`: CIDs are made over views of `bytes` instead of copies, so the
 * result keeps `bytes` alive. For callers that keep the result and `bytes`
 * together anyway (a cached tree node: a copy per CID cost ~250 bytes of
 * buffer bookkeeping for 36 bytes of CID).
 * @throws Error for bytes that are not valid dag-cbor, as `dagCbor.decode` does
 */
export function decodeDagCbor<T = unknown>(bytes: Uint8Array, options?: { readonly cidViews?: boolean }): T {
  input = bytes;
  at = 0;
  cidViews = options?.cidViews === true;
  try {
    const value = read(0);
    if (at !== bytes.length) throw GENERIC;
    return value as T;
  } catch {
    // Anything unusual (or a read past the end): the generic decoder decides.
    return dagCbor.decode<T>(bytes);
  } finally {
    input = EMPTY;
  }
}

/**
 * The CID whose binary form is `bytes`, over `bytes` itself: the CID, its
 * multihash and its digest are three views of one buffer. `CID.decode`
 * builds the same CID but encodes its bytes again into a buffer of their
 * own (plus the digest's), and a tree node with 32 children held 64+
 * buffers. CIDv1 with one-byte codec, hash and length (every CID Hearth
 * makes) takes this path; anything else goes to `CID.decode`.
 */
export function cidOver(bytes: Uint8Array): CID {
  const length = bytes[3]!;
  if (bytes[0] === 1 && bytes[1]! < 0x80 && bytes[2]! < 0x80 && length < 0x80 && bytes.length === 4 + length) {
    const multihash = bytes.subarray(2);
    return new CID(1, bytes[1]!, new Digest(bytes[2]!, length, multihash.subarray(2), multihash), bytes);
  }
  return CID.decode(bytes);
}

/** The argument of a head whose first byte was `first`, checked to be in its shortest form. */
function argument(first: number): number {
  const info = first & 31;
  if (info < 24) return info;
  let n: number;
  if (info === 24) {
    n = headAt(at);
    at += 1;
    if (n < 24) throw GENERIC;
  } else if (info === 25) {
    n = uint16At(at);
    at += 2;
    if (n < 0x100) throw GENERIC;
  } else if (info === 26) {
    n = uint32At(at);
    at += 4;
    if (n < 0x10000) throw GENERIC;
  } else if (info === 27) {
    const high = uint32At(at);
    n = high * 0x100000000 + uint32At(at + 4);
    at += 8;
    if (high === 0 || n > Number.MAX_SAFE_INTEGER) throw GENERIC;
  } else {
    throw GENERIC; // indefinite lengths and reserved values
  }
  return n;
}

function read(depth: number): unknown {
  const first = headAt(at++);
  const major = first >> 5;
  switch (major) {
    case 0:
      return argument(first);
    case 1: {
      const n = argument(first);
      if (n >= Number.MAX_SAFE_INTEGER) throw GENERIC;
      return -1 - n;
    }
    case 2: {
      const length = argument(first);
      if (at + length > input.length) throw GENERIC;
      // A copy, as the generic decoder gives (Buffer's slice would be a view): small ones share slabs.
      return byteCopies.copy(input.subarray(at, (at += length)));
    }
    case 3:
      return readText(argument(first));
    case 4: {
      if (depth > MAX_DEPTH) throw GENERIC;
      const length = argument(first);
      if (length > input.length - at) throw GENERIC;
      const out = new Array<unknown>(length);
      for (let i = 0; i < length; i++) out[i] = read(depth + 1);
      return out;
    }
    case 5: {
      if (depth > MAX_DEPTH) throw GENERIC;
      const length = argument(first);
      if (length > input.length - at) throw GENERIC;
      return readMapEntries({}, length, depth);
    }
    case 6: {
      if (first !== 0xd8 || headAt(at++) !== 42) throw GENERIC;
      const head = headAt(at++);
      if (head >> 5 !== 2) throw GENERIC;
      const length = argument(head);
      if (length < 2 || at + length > input.length || input[at] !== 0) throw GENERIC;
      const cidBytes = input.subarray(at + 1, at + length);
      const cid = cidOver(cidViews ? cidBytes : new Uint8Array(cidBytes));
      at += length;
      return cid;
    }
    default:
      if (first === 0xf4) return false;
      if (first === 0xf5) return true;
      if (first === 0xf6) return null;
      if (first === 0xfb) {
        const value = float64At(at);
        at += 8;
        if (!Number.isFinite(value)) throw GENERIC;
        return value;
      }
      throw GENERIC;
  }
}

/** Reads `length` map entries into `out` (after the properties it has). */
function readMapEntries(out: Record<string, unknown>, length: number, depth: number): Record<string, unknown> {
  let previousStart = -1;
  let previousLength = 0;
  for (let i = 0; i < length; i++) {
    const head = headAt(at++);
    if (head >> 5 !== 3) throw GENERIC;
    const keyLength = argument(head);
    const start = at;
    if (start + keyLength > input.length) throw GENERIC;
    // Canonical order (UTF-8 length, then bytes), checked on the bytes, implies no duplicates.
    if (previousStart >= 0 && (keyLength < previousLength || (keyLength === previousLength && compareSpans(previousStart, start, keyLength) >= 0))) {
      throw GENERIC;
    }
    const key = keyLength <= KEY_CACHE_MAX_BYTES ? cachedKey(keyLength) : readText(keyLength);
    // `__proto__` needs the generic path's care.
    if (key === "__proto__") throw GENERIC;
    previousStart = start;
    previousLength = keyLength;
    out[key] = read(depth + 1);
  }
  return out;
}

/**
 * Decodes the dag-cbor map starting at `offset` in `bytes` into `target`,
 * its entries added after the properties `target` has (as
 * `{ ...target, ...map }` would order them, without the second object),
 * and says where the map ends. `undefined` when the fast path does not
 * read it (not a map, not canonical, a shape it leaves to the generic
 * decoder): `target` may then hold some of its entries, and the caller
 * decodes the item the generic way.
 */
export function decodeMapInto(bytes: Uint8Array, offset: number, target: Record<string, unknown>): number | undefined {
  input = bytes;
  at = offset;
  cidViews = false;
  try {
    const first = headAt(at++);
    if (first >> 5 !== 5) return undefined;
    const length = argument(first);
    if (length > input.length - at) return undefined;
    readMapEntries(target, length, 1);
    return at > bytes.length ? undefined : at;
  } catch {
    return undefined;
  } finally {
    input = EMPTY;
  }
}

/** The byte at `i` of the input; past its end, `GENERIC` (a truncated item). */
function headAt(i: number): number {
  const byte = input[i];
  if (byte === undefined) throw GENERIC;
  return byte;
}

function uint16At(i: number): number {
  if (i + 2 > input.length) throw GENERIC;
  return (input[i]! << 8) | input[i + 1]!;
}

function uint32At(i: number): number {
  if (i + 4 > input.length) throw GENERIC;
  return ((input[i]! << 24) | (input[i + 1]! << 16) | (input[i + 2]! << 8) | input[i + 3]!) >>> 0;
}

/** Big-endian float64 through a scratch buffer (a DataView per decoded item cost more than the item). */
const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);

function float64At(i: number): number {
  if (i + 8 > input.length) throw GENERIC;
  floatBytes.set(input.subarray(i, i + 8));
  return floatView.getFloat64(0);
}

/** Compares the input's bytes at `a` and `b`, `length` of each. */
function compareSpans(a: number, b: number, length: number): number {
  for (let i = 0; i < length; i++) {
    const d = input[a + i]! - input[b + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Byte strings decoded, copied into shared slabs: each would otherwise own
 * an `ArrayBuffer` (the event reference in every register a scan decodes;
 * in a profile, a tenth of decoding a register). Each copy is a span of its
 * own: writing to one changes no other, nor the input.
 */
const byteCopies = new SlabCopier(64 * 1024, 256);

/**
 * Map keys up to this many bytes go through {@link cachedKey}. Documents
 * repeat their field names, and a decoded document's keys as fresh strings
 * each had to be made, then found in V8's string table as the property was
 * added: with the cache, decoding the bench's registers took ~20 % less
 * time (Node 20, 100,000 registers).
 */
const KEY_CACHE_MAX_BYTES = 16;
const KEY_CACHE_SLOTS = 512;
const keyCache: string[] = new Array<string>(KEY_CACHE_SLOTS).fill("");

/**
 * The map key of `length` bytes at `at` (advanced past it): the string
 * last made for the same bytes when it is still in its cache slot. Only
 * ASCII keys are cached, so a cached key whose code units equal the bytes
 * is exactly what decoding them gives.
 */
function cachedKey(length: number): string {
  const start = at;
  let hash = length;
  for (let i = 0; i < length; i++) hash = (Math.imul(hash, 31) + input[start + i]!) | 0;
  const slot = hash & (KEY_CACHE_SLOTS - 1);
  const cached = keyCache[slot]!;
  if (cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === input[start + i]) i++;
    if (i === length) {
      at = start + length;
      return cached;
    }
  }
  const key = readText(length);
  // One code unit a byte: ASCII (any other UTF-8 makes fewer code units than bytes).
  if (key.length === length) keyCache[slot] = key;
  return key;
}

/**
 * The end offset of the one dag-cbor item starting at `offset` in `bytes`,
 * found by reading heads only (no strings, objects or CIDs are built): what
 * lets a tree leaf be indexed without decoding its values.
 * @throws Error if the item is not canonical dag-cbor of the shapes
 *   {@link decodeDagCbor} reads on its fast path, or runs past the end
 */
export function skipDagCbor(bytes: Uint8Array, offset: number): number {
  // Not through skipDagCborItems: a register read skips two small items a document, and the
  // array of one end it would need was most of the cost (a scan of 50,000 documents in Chromium).
  input = bytes;
  at = offset;
  try {
    skip(0);
    if (at > bytes.length) throw GENERIC;
    return at;
  } catch (err) {
    throw notCanonicalItems(err, offset);
  } finally {
    input = EMPTY;
  }
}

/**
 * Finds the ends of `count` consecutive dag-cbor items starting at `offset`
 * (as {@link skipDagCbor} would, one after another, in one pass): item i
 * ends at `ends[i]`.
 * @throws Error as {@link skipDagCbor} does
 */
export function skipDagCborItems(bytes: Uint8Array, offset: number, ends: Uint32Array): void {
  input = bytes;
  at = offset;
  try {
    for (let i = 0; i < ends.length; i++) {
      skip(0);
      ends[i] = at;
    }
    if (at > bytes.length) throw GENERIC;
  } catch (err) {
    throw notCanonicalItems(err, offset);
  } finally {
    input = EMPTY;
  }
}

/** What a failed skip throws: the decoder's own failures as one plain error, anything else as it was. */
function notCanonicalItems(err: unknown, offset: number): unknown {
  return err === GENERIC || err instanceof RangeError ? new Error(`not canonical dag-cbor items from offset ${offset}`) : err;
}

function skip(depth: number): void {
  const first = headAt(at++);
  switch (first >> 5) {
    case 0:
    case 1:
      argument(first);
      return;
    case 2:
    case 3: {
      const length = argument(first);
      if (at + length > input.length) throw GENERIC;
      at += length;
      return;
    }
    case 4:
    case 5: {
      if (depth > MAX_DEPTH) throw GENERIC;
      const items = argument(first) * (first >> 5 === 5 ? 2 : 1);
      if (items > input.length - at) throw GENERIC;
      for (let i = 0; i < items; i++) skip(depth + 1);
      return;
    }
    case 6: {
      if (first !== 0xd8 || headAt(at++) !== 42) throw GENERIC;
      const head = headAt(at++);
      if (head >> 5 !== 2) throw GENERIC;
      const length = argument(head);
      if (length < 2 || at + length > input.length) throw GENERIC;
      at += length;
      return;
    }
    default:
      if (first === 0xf4 || first === 0xf5 || first === 0xf6) return;
      if (first === 0xfb) {
        at += 8;
        return;
      }
      throw GENERIC;
  }
}

/**
 * ASCII strings up to this long are built by hand: half the cost of a
 * TextDecoder call (measured: ~50 against ~105 ns), and V8 keeps strings
 * this short flat when concatenated (longer ones would become ropes).
 */
const SHORT_TEXT = 12;
/**
 * ASCII strings up to this long are built from their character codes in
 * one `String.fromCharCode` call: flat, and cheaper than a TextDecoder
 * call, which costs most in browsers (24 characters, measured: Chromium
 * 156 ~160 against ~340 ns, Node 20 ~105 against ~125 ns). Index keys,
 * document ids and ISO dates are mostly this long.
 */
const MEDIUM_TEXT = 64;
const charCodes: number[] = [];

function readText(length: number): string {
  const end = at + length;
  if (end > input.length) throw GENERIC;
  if (length <= SHORT_TEXT) {
    let text = "";
    let i = at;
    for (; i < end; i++) {
      const c = input[i]!;
      if (c >= 0x80) break;
      text += String.fromCharCode(c);
    }
    if (i === end) {
      at = end;
      return text;
    }
  } else if (length <= MEDIUM_TEXT) {
    charCodes.length = length;
    let i = 0;
    for (; i < length; i++) {
      const c = input[at + i]!;
      if (c >= 0x80) break;
      charCodes[i] = c;
    }
    if (i === length) {
      at = end;
      return String.fromCharCode.apply(null, charCodes);
    }
  }
  // Fatal: invalid UTF-8 goes to the generic decoder, which decides what it means.
  const text = strictUtf8.decode(input.subarray(at, end));
  at = end;
  return text;
}
