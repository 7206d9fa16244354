/**
 * Tree leaves kept as their encoded bytes, decoding one value at a time.
 *
 * Why: a random `get` on a large ledger misses the node cache, and reading
 * a leaf used to mean decoding all of it: ~32 registers, each a document
 * with its metadata, built into objects only for one of them to be used,
 * and the decoded leaf then took ~12× its encoded size in the cache (a
 * 20,000-node cache grew past 1 GB at a million documents). An
 * {@link EncodedLeaf} searches its keys where they lie in its bytes (or
 * decodes them, if any is not ASCII), finds where a value starts by reading
 * CBOR heads only ({@link skipDagCborItems}), and decodes a value when it
 * is read. Its memory is about its encoded size, which is what lets the
 * cache be bounded in bytes ({@link nodeBytes}).
 *
 * Internal nodes (a few percent of a tree) stay decoded: they are read on
 * every lookup and their children are CIDs.
 *
 * @module
 */
import { CID, verifyBlockBytes } from "../codec/block.js";
import { decodeDagCbor, skipDagCbor, skipDagCborItems } from "../codec/cbor.js";
import { compareByteSpans, compareCodeUnits } from "../codec/code-units.js";
import { HearthError } from "../errors.js";
import { asTreeNode, lowerBound, type TreeNode } from "./prolly-node.js";

/** The field names of a node's dag-cbor map, as UTF-8 text heads + bytes (canonical order: tag, keys, height, values). */
const TAG_FIELD = Uint8Array.of(0x63, 0x74, 0x61, 0x67);
const KEYS_FIELD = Uint8Array.of(0x64, 0x6b, 0x65, 0x79, 0x73);
const HEIGHT_FIELD = Uint8Array.of(0x66, 0x68, 0x65, 0x69, 0x67, 0x68, 0x74);
const VALUES_FIELD = Uint8Array.of(0x66, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x73);
/** A map of four entries (leaves: tag, keys, height, values). */
const MAP_OF_FOUR = 0xa4;

/** Thrown inside the fast path when the bytes are not laid out as this module expects; the full decoder decides. */
const UNUSUAL = Symbol("unusual");

/**
 * ASCII keys this long or shorter are turned into strings by hand, longer
 * ones by a TextDecoder (see `SHORT_TEXT` in codec/cbor.ts for the measurement).
 */
const SHORT_KEY = 12;
const asciiDecoder = new TextDecoder();

/**
 * A leaf ({@link TreeNode} of height 0) over its encoded bytes.
 *
 * Keys: when every key is ASCII (document ids almost always are), the leaf
 * keeps only where each key's characters lie in the bytes (8 bytes a key
 * instead of a ~40-byte string and its slot), and {@link EncodedLeaf.lowerBound}
 * compares a probe with those bytes directly: for ASCII keys a byte is the
 * key's UTF-16 code unit, so the order is exactly the tree's string order,
 * whatever the probe holds. Reading such a leaf from the store then costs a
 * walk over the keys' CBOR heads, not a string per key (a third of a random
 * get's miss at a million documents). Leaves with any other key keep their
 * keys decoded, as before.
 *
 * Values: decoded one at a time by {@link EncodedLeaf.valueAt}; where each
 * starts is found by reading CBOR heads only ({@link skipDagCborItems}),
 * as far as the value asked for and no further, so a lookup in a fresh
 * leaf skips half its values on average, not all of them.
 *
 * `keys` and `values` exist for callers that need them all (tree
 * mutations, range scans) and build a new array on each read.
 */
export class EncodedLeaf implements TreeNode {
  readonly height = 0;
  readonly tag: string;
  readonly keyCount: number;
  readonly #bytes: Uint8Array;
  /** ASCII keys: key i's characters are `bytes[spans[2i] … spans[2i + 1])`. Undefined when keys are held decoded. */
  readonly #keySpans: Uint32Array | undefined;
  /** The keys, decoded, for a leaf whose keys are not all ASCII. */
  readonly #decodedKeys: readonly string[] | undefined;
  /** `offsets[i]` … `offsets[i + 1]` are value i's bytes; known up to `offsets[#valuesFound]`. */
  readonly #valueOffsets: Uint32Array;
  #valuesFound = 0;

  /**
   * @param tag - the tree's tag, as in the bytes
   * @param keys - ASCII key spans (see {@link EncodedLeaf}) or the decoded keys
   * @param bytes - the leaf's dag-cbor block bytes (owned by the leaf from now on)
   * @param valuesStart - where the first value starts in `bytes`
   */
  constructor(tag: string, keys: Uint32Array | readonly string[], bytes: Uint8Array, valuesStart: number) {
    this.tag = tag;
    this.#bytes = bytes;
    if (keys instanceof Uint32Array) {
      this.#keySpans = keys;
      this.keyCount = keys.length / 2;
    } else {
      this.#decodedKeys = keys;
      this.keyCount = keys.length;
    }
    this.#valueOffsets = new Uint32Array(this.keyCount + 1);
    this.#valueOffsets[0] = valuesStart;
  }

  /** Every key (a new array on each read when the leaf keeps them encoded). */
  get keys(): readonly string[] {
    if (this.#decodedKeys) return this.#decodedKeys;
    const out = new Array<string>(this.keyCount);
    for (let i = 0; i < out.length; i++) out[i] = this.keyAt(i);
    return out;
  }

  /** Key `index`. */
  keyAt(index: number): string {
    if (this.#decodedKeys) return this.#decodedKeys[index]!;
    const spans = this.#keySpans!;
    const start = spans[2 * index]!;
    const end = spans[2 * index + 1]!;
    if (end - start > SHORT_KEY) return asciiDecoder.decode(this.#bytes.subarray(start, end));
    let key = "";
    for (let i = start; i < end; i++) key += String.fromCharCode(this.#bytes[i]!);
    return key;
  }

  /** Index of the first key `>= key` (or {@link keyCount}), as `lowerBound` over {@link keys}. */
  lowerBound(key: string): number {
    if (this.#decodedKeys) return lowerBound(this.#decodedKeys, key);
    let lo = 0;
    let hi = this.keyCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareKeyAt(mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True if key `index` is `key`. */
  keyIs(index: number, key: string): boolean {
    return this.#decodedKeys ? this.#decodedKeys[index] === key : this.#compareKeyAt(index, key) === 0;
  }

  /** ASCII key `index` against `key`, in string order: negative, zero or positive. */
  #compareKeyAt(index: number, key: string): number {
    return compareCodeUnits(this.#bytes, this.#keySpans![2 * index]!, this.#keySpans![2 * index + 1]!, key);
  }

  /** Every value, decoded now (a new array and new objects on each read). */
  get values(): readonly unknown[] {
    const out = new Array<unknown>(this.keyCount);
    for (let i = 0; i < out.length; i++) out[i] = this.valueAt(i);
    return out;
  }

  /** Value `index`, decoded now: a new object the caller may keep. */
  valueAt(index: number): unknown {
    if (index >= this.#valuesFound) this.#findValues(index + 1);
    const bytes = this.#bytes.subarray(this.#valueOffsets[index]!, this.#valueOffsets[index + 1]!);
    try {
      return decodeDagCbor(bytes);
    } catch (cause) {
      throw new HearthError("INTEGRITY", `a value in tree leaf ${JSON.stringify(this.tag)} is not valid dag-cbor; restore the store from a replica or backup`, { cause });
    }
  }

  /** Finds where values up to `count` end, going on from the last one found. */
  #findValues(count: number): void {
    const offsets = this.#valueOffsets;
    try {
      skipDagCborItems(this.#bytes, offsets[this.#valuesFound]!, offsets.subarray(this.#valuesFound + 1, count + 1));
      if (count === this.keyCount && offsets[count] !== this.#bytes.length) throw UNUSUAL;
    } catch (cause) {
      throw new HearthError("INTEGRITY", "a tree leaf's values are not laid out as its keys say; restore the store from a replica or backup", { cause });
    }
    this.#valuesFound = count;
  }

  /** Memory this leaf holds, roughly: its bytes, its keys, its offsets. */
  get byteSize(): number {
    let keys = 0;
    if (this.#decodedKeys) for (const key of this.#decodedKeys) keys += 40 + key.length;
    else keys = this.#keySpans!.byteLength + 64;
    return 192 + this.#bytes.byteLength + keys + this.#valueOffsets.byteLength;
  }
}

/**
 * Decodes a stored tree node: leaves as {@link EncodedLeaf}, internal nodes
 * in full. The bytes must hash to `cid`; pass `authenticated` only when
 * they were read from a store that already proves they are the bytes
 * stored under this CID's name (see `NodeCache`), to skip the hash.
 * @throws HearthError `INTEGRITY` if they do not, or are not a tree node.
 */
export async function decodeTreeNode(cid: CID, bytes: Uint8Array, authenticated = false): Promise<TreeNode> {
  if (!authenticated) await verifyBlockBytes(cid, bytes);
  try {
    return readLeaf(bytes) ?? wholeNode(cid, bytes);
  } catch (err) {
    if (err !== UNUSUAL && !(err instanceof RangeError)) throw err;
    return wholeNode(cid, bytes);
  }
}

/**
 * The compact form of a node the ledger just built (its bytes are its
 * block's): leaves become {@link EncodedLeaf} without decoding anything;
 * internal nodes are decoded again from their bytes, so their children's
 * CIDs are views of one buffer (a CID made while building owns two or
 * three buffers of its own: a million-document load held ~80,000 of them).
 */
export function compactNode(node: TreeNode, bytes: Uint8Array): TreeNode {
  if (node instanceof EncodedLeaf) return node;
  if (node.height !== 0) {
    const decoded = decodeDagCbor<TreeNode>(ownBytes(bytes), { cidViews: true });
    return decoded.height === node.height && decoded.keys.length === node.keys.length ? decoded : node;
  }
  try {
    return readLeaf(bytes) ?? node;
  } catch (err) {
    if (err !== UNUSUAL && !(err instanceof RangeError)) throw err;
    return node; // not laid out as this module reads (never for a node dag-cbor encoded): kept decoded
  }
}

/**
 * Memory a cached node holds, roughly. Internal nodes: their bytes, plus per
 * child a CID (three views, a digest, the CID: ~330 bytes measured in heap
 * snapshots) and its key; ~8× their encoded size.
 */
export function nodeBytes(node: TreeNode, encodedBytes: number): number {
  return node instanceof EncodedLeaf ? node.byteSize : 256 + encodedBytes * 8;
}

function wholeNode(cid: CID, encoded: Uint8Array): TreeNode {
  // The node's CIDs are views of its bytes: one buffer for the node, not one per child.
  const bytes = ownBytes(encoded);
  let value: unknown;
  try {
    value = decodeDagCbor(bytes, { cidViews: true });
  } catch (cause) {
    throw new HearthError("INTEGRITY", `block ${cid} is not valid dag-cbor`, { cause });
  }
  return asTreeNode(value, cid);
}

/** Where the parts of a leaf's canonical encoding start and end. */
interface LeafLayout {
  readonly tagStart: number;
  readonly tagEnd: number;
  readonly keysStart: number;
  readonly keysEnd: number;
  /** The head of the values array. */
  readonly valuesHead: number;
}

/**
 * The layout of a node's bytes in the canonical field order (tag, keys,
 * height, values), `undefined` for a node of height > 0; throws UNUSUAL for
 * anything laid out otherwise.
 */
function leafLayout(bytes: Uint8Array): LeafLayout | undefined {
  if (bytes[0] !== MAP_OF_FOUR) throw UNUSUAL;
  const tagStart = expectField(bytes, 1, TAG_FIELD);
  const tagEnd = skipDagCbor(bytes, tagStart);
  const keysStart = expectField(bytes, tagEnd, KEYS_FIELD);
  const keysEnd = skipDagCbor(bytes, keysStart);
  const heightAt = expectField(bytes, keysEnd, HEIGHT_FIELD);
  if (bytes[heightAt] !== 0x00) return undefined; // height 0 is the one-byte integer 0; anything else is not a leaf
  return { tagStart, tagEnd, keysStart, keysEnd, valuesHead: expectField(bytes, heightAt + 1, VALUES_FIELD) };
}

/** A leaf read from `bytes` in the canonical layout, `undefined` for an internal node; throws UNUSUAL for anything else. */
function readLeaf(bytes: Uint8Array): EncodedLeaf | undefined {
  const layout = leafLayout(bytes);
  if (!layout) return undefined;
  const tag = decodeDagCbor<unknown>(bytes.subarray(layout.tagStart, layout.tagEnd));
  if (typeof tag !== "string") throw UNUSUAL;
  let keys: Uint32Array | readonly string[] | undefined = asciiKeySpans(bytes, layout.keysStart, layout.keysEnd);
  if (keys === undefined) {
    const decoded = decodeDagCbor<unknown>(bytes.subarray(layout.keysStart, layout.keysEnd));
    if (!isAscendingStrings(decoded)) throw UNUSUAL;
    keys = decoded;
  }
  const count = keys instanceof Uint32Array ? keys.length / 2 : keys.length;
  const { length, at } = arrayHead(bytes, layout.valuesHead);
  if (length !== count) throw UNUSUAL;
  return new EncodedLeaf(tag, keys, ownBytes(bytes), at);
}

/**
 * Where each key's characters lie, when the keys array at `start` … `end`
 * holds only ASCII text in strictly ascending order; `undefined` if any key
 * is not ASCII (the caller decodes them). Throws UNUSUAL for anything that is
 * not an array of text strings ending at `end`, or keys out of order.
 */
function asciiKeySpans(bytes: Uint8Array, start: number, end: number): Uint32Array | undefined {
  const { length: count, at: first } = arrayHead(bytes, start);
  const spans = new Uint32Array(2 * count);
  let at = first;
  for (let i = 0; i < count; i++) {
    const head = bytes[at++]!;
    let length: number;
    if (head >= 0x60 && head < 0x78) length = head - 0x60;
    else if (head === 0x78) length = bytes[at++]!;
    else if (head === 0x79) {
      length = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
    } else throw UNUSUAL;
    const keyEnd = at + length;
    if (keyEnd > end) throw UNUSUAL;
    for (let k = at; k < keyEnd; k++) if (bytes[k]! >= 0x80) return undefined;
    spans[2 * i] = at;
    spans[2 * i + 1] = keyEnd;
    if (i > 0 && compareByteSpans(bytes, spans[2 * i - 2]!, spans[2 * i - 1]!, at, keyEnd) >= 0) throw UNUSUAL;
    at = keyEnd;
  }
  if (at !== end) throw UNUSUAL;
  return spans;
}

/** The length of the array whose head is at `head`, and where its first item starts; throws UNUSUAL for anything but an array head. */
function arrayHead(bytes: Uint8Array, head: number): { length: number; at: number } {
  const first = bytes[head]!;
  if (first >= 0x80 && first < 0x98) return { length: first - 0x80, at: head + 1 };
  if (first === 0x98) return { length: bytes[head + 1]!, at: head + 2 };
  if (first === 0x99) return { length: (bytes[head + 1]! << 8) | bytes[head + 2]!, at: head + 3 };
  throw UNUSUAL;
}

/** The offset after `field` if the bytes at `at` are exactly it. */
function expectField(bytes: Uint8Array, at: number, field: Uint8Array): number {
  for (let i = 0; i < field.length; i++) if (bytes[at + i] !== field[i]) throw UNUSUAL;
  return at + field.length;
}

function isAscendingStrings(keys: unknown): keys is string[] {
  if (!Array.isArray(keys)) return false;
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string") return false;
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
  }
  return true;
}

/**
 * `bytes` if they own their whole buffer, else a copy: a view would keep a
 * larger buffer alive behind the cache's back (zlib's output is a view of a
 * 16 KiB chunk). A plain `Uint8Array` copy: a `Buffer`'s `slice` is a view.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes : new Uint8Array(bytes);
}
