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
 * Internal nodes are kept as their bytes too ({@link ./prolly-branch}).
 * This module decides, for bytes read from the store or a node the ledger
 * just built, which form a node takes.
 *
 * @module
 */
import { CID, verifyBlockBytes } from "../codec/block.js";
import { decodeDagCbor, decodeDagCborItem, EncodedCbor, skipDagCborItems } from "../codec/cbor.js";
import { compareByteSpans, compareCodeUnits } from "../codec/code-units.js";
import { HearthError } from "../errors.js";
import { EncodedBranch } from "./prolly-branch.js";
import { arrayHead, decodedKeys, type NodeLayout, nodeLayout, ownBytes, UNUSUAL } from "./prolly-layout.js";
import { asTreeNode, lowerBound, type TreeNode, type ValueReader } from "./prolly-node.js";

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
   * @param valuesStart - where the first value starts in `bytes`, or where
   *   values end: `ends[i]` … `ends[i + 1]` are value i's bytes (as
   *   {@link knownValueEnds} gives; checked as values are read, not here).
   *   The leaf takes the array as its own and fills in the ends it finds.
   * @param found - with `ends`: how many values' ends it holds (the rest
   *   are found as values are read); default all
   */
  constructor(tag: string, keys: Uint32Array | readonly string[], bytes: Uint8Array, valuesStart: number | Uint32Array, found?: number) {
    this.tag = tag;
    this.#bytes = bytes;
    if (keys instanceof Uint32Array) {
      this.#keySpans = keys;
      this.keyCount = keys.length / 2;
    } else {
      this.#decodedKeys = keys;
      this.keyCount = keys.length;
    }
    if (typeof valuesStart === "number") {
      this.#valueOffsets = new Uint32Array(this.keyCount + 1);
      this.#valueOffsets[0] = valuesStart;
    } else {
      if (valuesStart.length !== this.keyCount + 1) throw new RangeError(`a leaf of ${this.keyCount} keys needs ${this.keyCount + 1} value ends, got ${valuesStart.length}`);
      const known = found ?? this.keyCount;
      if (!Number.isSafeInteger(known) || known < 0 || known > this.keyCount) throw new RangeError(`a leaf of ${this.keyCount} keys cannot know ${String(found)} value ends`);
      this.#valueOffsets = valuesStart;
      this.#valuesFound = known;
    }
  }

  /** The leaf's bytes: a view of the leaf's own, not to be written. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Where each key lies in {@link bytes} (see {@link EncodedLeaf}), or `undefined` when the leaf keeps its keys decoded. Not to be written. */
  get keySpans(): Uint32Array | undefined {
    return this.#keySpans;
  }

  /**
   * Where values end as far as found so far: `ends[i]` … `ends[i + 1]` are
   * value i's bytes for i below {@link valuesFound}; the entries after are
   * not set. The leaf's own array, not to be written.
   */
  knownValueEnds(): Uint32Array {
    return this.#valueOffsets;
  }

  /** How many values' ends are known ({@link knownValueEnds}); the rest are found as values are read. */
  get valuesFound(): number {
    return this.#valuesFound;
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

  /**
   * Value `index`, decoded now: a new object the caller may keep. Reading
   * the values in order (a scan) finds where each ends by decoding it; a
   * value further on is found by skipping the ones before.
   */
  valueAt(index: number): unknown {
    if (index === this.#valuesFound && index < this.keyCount) return this.#decodeNextValue();
    if (index >= this.#valuesFound) this.#findValues(index + 1);
    const bytes = this.#bytes.subarray(this.#valueOffsets[index]!, this.#valueOffsets[index + 1]!);
    try {
      return decodeDagCbor(bytes);
    } catch (cause) {
      throw this.#damagedValue(cause);
    }
  }

  /** The INTEGRITY error for a value that does not decode. */
  #damagedValue(cause: unknown): HearthError {
    return new HearthError("INTEGRITY", `a value in tree leaf ${JSON.stringify(this.tag)} is not valid dag-cbor; restore the store from a replica or backup`, { cause });
  }

  /** Decodes the first value whose end is not known yet, and records its end. */
  #decodeNextValue(): unknown {
    const index = this.#valuesFound;
    let decoded: { readonly value: unknown; readonly end: number };
    try {
      decoded = decodeDagCborItem(this.#bytes, this.#valueOffsets[index]!);
    } catch (cause) {
      throw this.#damagedValue(cause);
    }
    this.#settleEnd(index, decoded.end);
    return decoded.value;
  }

  /**
   * Takes `end` as where value `index` ends: recorded when it was not known
   * yet (the last value must end where the leaf does), checked against
   * what was recorded when it was.
   */
  #settleEnd(index: number, end: number): void {
    if (index === this.#valuesFound) {
      if (index + 1 === this.keyCount && end !== this.#bytes.length) throw misplacedValues();
      this.#valueOffsets[index + 1] = end;
      this.#valuesFound = index + 1;
    } else if (end !== this.#valueOffsets[index + 1]) {
      throw misplacedValues();
    }
  }

  /**
   * Value `index` as `reader` reads it from this leaf's bytes (given where
   * the value starts), or `undefined` when `reader` declines (the caller
   * then takes {@link valueAt}). What lets a read that needs only part of
   * each value skip building the rest. The end `reader` reports is checked
   * against the leaf's layout, as a decoded value's is.
   */
  valueVia<T>(index: number, reader: ValueReader<T>): T | undefined {
    if (index > this.#valuesFound) this.#findValues(index);
    const read = reader(this.#bytes, this.#valueOffsets[index]!);
    if (read === undefined) return undefined;
    this.#settleEnd(index, read.end);
    return read.value;
  }

  /**
   * Value `index` as its encoded bytes (a view of this leaf's), for a
   * mutation that copies it unchanged into a new leaf.
   */
  encodedValueAt(index: number): EncodedCbor {
    if (index >= this.#valuesFound) this.#findValues(index + 1);
    return new EncodedCbor(this.#bytes.subarray(this.#valueOffsets[index]!, this.#valueOffsets[index + 1]!));
  }

  /** Finds where values up to `count` end, going on from the last one found. */
  #findValues(count: number): void {
    const offsets = this.#valueOffsets;
    try {
      skipDagCborItems(this.#bytes, offsets[this.#valuesFound]!, offsets.subarray(this.#valuesFound + 1, count + 1));
      if (count === this.keyCount && offsets[count] !== this.#bytes.length) throw UNUSUAL;
    } catch (cause) {
      throw misplacedValues(cause);
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

/** The INTEGRITY error for a leaf whose values do not end where its layout says. */
function misplacedValues(cause?: unknown): HearthError {
  return new HearthError("INTEGRITY", "a tree leaf's values are not laid out as its keys say; restore the store from a replica or backup", cause === undefined ? undefined : { cause });
}

/**
 * Decodes a stored tree node: leaves as {@link EncodedLeaf}, internal nodes
 * as {@link EncodedBranch}, anything not laid out canonically through the
 * full decoder and its shape check. The bytes must hash to `cid`; pass `authenticated` only when
 * they were read from a store that already proves they are the bytes
 * stored under this CID's name (see `NodeCache`), to skip the hash.
 * @throws HearthError `INTEGRITY` if they do not, or are not a tree node.
 */
export async function decodeTreeNode(cid: CID, bytes: Uint8Array, authenticated = false): Promise<TreeNode> {
  if (!authenticated) await verifyBlockBytes(cid, bytes);
  return readNode(bytes) ?? wholeNode(cid, bytes);
}

/**
 * The compact form of a node the ledger just built (its bytes are its
 * block's): an {@link EncodedLeaf} or an {@link EncodedBranch}, read from
 * the bytes without decoding values or making CIDs. (A node as built holds
 * decoded values and CIDs that own two or three buffers each.)
 */
export function compactNode(node: TreeNode, bytes: Uint8Array): TreeNode {
  if (node instanceof EncodedLeaf || node instanceof EncodedBranch) return node;
  // Never undefined for bytes dag-cbor encoded; kept decoded if it were.
  return readNode(bytes) ?? node;
}

/**
 * The compact form of `bytes`, or `undefined` if they are not laid out
 * canonically or not valid (the full decoder then decides, and reports
 * what is wrong as `INTEGRITY`).
 */
function readNode(bytes: Uint8Array): TreeNode | undefined {
  try {
    const layout = nodeLayout(bytes);
    return layout.height === 0 ? readLeaf(bytes, layout) : EncodedBranch.read(bytes, layout);
  } catch {
    // UNUSUAL, a read past the end (RangeError), or text that is not UTF-8.
    return undefined;
  }
}

/**
 * Memory a cached node holds, roughly. Internal nodes are charged as if
 * every child's CID text had been worked out (~80 bytes a child beside its
 * decoded key and ~50 encoded bytes), ~4× their encoded size: random
 * lookups make them all sooner or later. Nodes held decoded (laid out in
 * a way the compact forms do not read) are charged ~8×, as a decoded
 * child CID is ~330 bytes of heap (three views, a digest, the CID).
 */
export function nodeBytes(node: TreeNode, encodedBytes: number): number {
  if (node instanceof EncodedLeaf) return node.byteSize;
  return 256 + encodedBytes * (node instanceof EncodedBranch ? 4 : 8);
}

/** `bytes` through the full decoder and the shape check. */
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

/** A leaf read from `bytes` laid out as `layout` says; throws UNUSUAL for anything but well-formed keys and values. */
function readLeaf(bytes: Uint8Array, layout: NodeLayout): EncodedLeaf {
  const keys = asciiKeySpans(bytes, layout.keysStart, layout.keysEnd) ?? decodedKeys(bytes, layout.keysStart, layout.keysEnd);
  const count = keys instanceof Uint32Array ? keys.length / 2 : keys.length;
  const { length, at } = arrayHead(bytes, layout.payloadHead);
  if (length !== count) throw UNUSUAL;
  return new EncodedLeaf(layout.tag, keys, ownBytes(bytes), at);
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


