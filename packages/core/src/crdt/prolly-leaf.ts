/**
 * Tree leaves kept as their encoded bytes, decoding one value at a time.
 *
 * Why: a random `get` on a large ledger misses the node cache, and reading
 * a leaf used to mean decoding all of it: ~32 registers, each a document
 * with its metadata, built into objects only for one of them to be used,
 * and the decoded leaf then took ~12× its encoded size in the cache (a
 * 20,000-node cache grew past 1 GB at a million documents). An
 * {@link EncodedLeaf} decodes the leaf's keys (needed to search it), finds
 * where each value starts by reading CBOR heads only
 * ({@link skipDagCbor}), and decodes a value when it is read. Its memory
 * is about its encoded size, which is what lets the cache be bounded in
 * bytes ({@link nodeBytes}).
 *
 * Internal nodes (a few percent of a tree) stay decoded: they are read on
 * every lookup and their children are CIDs.
 *
 * @module
 */
import { CID, verifyBlockBytes } from "../codec/block.js";
import { decodeDagCbor, skipDagCbor, skipDagCborItems } from "../codec/cbor.js";
import { HearthError } from "../errors.js";
import { asTreeNode, type TreeNode } from "./prolly-node.js";

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
 * A leaf ({@link TreeNode} of height 0) over its encoded bytes: `keys` are
 * decoded, values are decoded on demand by {@link EncodedLeaf.valueAt}.
 * `values` exists for callers that need them all (tree mutations), and
 * decodes every one each time it is read.
 */
export class EncodedLeaf implements TreeNode {
  readonly height = 0;
  readonly tag: string;
  readonly keys: readonly string[];
  readonly #bytes: Uint8Array;
  /** `offsets[i]` … `offsets[i + 1]` are value i's bytes; found on the first value read. */
  #offsets: Uint32Array | undefined;

  /**
   * @param tag - the tree's tag, as in the bytes
   * @param keys - the leaf's keys, as in the bytes
   * @param bytes - the leaf's dag-cbor block bytes (owned by the leaf from now on)
   * @param offsets - value offsets, if already known
   */
  constructor(tag: string, keys: readonly string[], bytes: Uint8Array, offsets?: Uint32Array) {
    this.tag = tag;
    this.keys = keys;
    this.#bytes = bytes;
    this.#offsets = offsets;
  }

  /** Every value, decoded now (a new array and new objects on each read). */
  get values(): readonly unknown[] {
    const out = new Array<unknown>(this.keys.length);
    for (let i = 0; i < out.length; i++) out[i] = this.valueAt(i);
    return out;
  }

  /** Value `index`, decoded now: a new object the caller may keep. */
  valueAt(index: number): unknown {
    const offsets = (this.#offsets ??= valueOffsets(this.#bytes, this.keys.length));
    const bytes = this.#bytes.subarray(offsets[index]!, offsets[index + 1]!);
    try {
      return decodeDagCbor(bytes);
    } catch (cause) {
      throw new HearthError("INTEGRITY", `a value in tree leaf ${JSON.stringify(this.tag)} is not valid dag-cbor; restore the store from a replica or backup`, { cause });
    }
  }

  /** Memory this leaf holds, roughly: its bytes, its keys, its offsets. */
  get byteSize(): number {
    let keyChars = 0;
    for (const key of this.keys) keyChars += key.length;
    return 128 + this.#bytes.byteLength + keyChars + this.keys.length * 24 + (this.keys.length + 1) * 4;
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
 * block's): leaves become {@link EncodedLeaf} without decoding anything,
 * internal nodes stay as they are.
 */
export function compactNode(node: TreeNode, bytes: Uint8Array): TreeNode {
  return node.height === 0 && !(node instanceof EncodedLeaf) ? new EncodedLeaf(node.tag, node.keys, ownBytes(bytes)) : node;
}

/** Memory a cached node holds, roughly (internal nodes: their CIDs are objects, ~4× their encoded size). */
export function nodeBytes(node: TreeNode, encodedBytes: number): number {
  return node instanceof EncodedLeaf ? node.byteSize : 256 + encodedBytes * 4;
}

function wholeNode(cid: CID, bytes: Uint8Array): TreeNode {
  let value: unknown;
  try {
    value = decodeDagCbor(bytes);
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
  const keys = decodeDagCbor<unknown>(bytes.subarray(layout.keysStart, layout.keysEnd));
  if (!isAscendingStrings(keys)) throw UNUSUAL;
  const offsets = valueOffsetsFrom(bytes, layout.valuesHead, keys.length);
  return new EncodedLeaf(tag, keys, ownBytes(bytes), offsets);
}

/** Value offsets of a leaf's bytes (a leaf the ledger built, so laid out canonically). */
function valueOffsets(bytes: Uint8Array, count: number): Uint32Array {
  try {
    const layout = leafLayout(bytes);
    if (!layout) throw UNUSUAL;
    return valueOffsetsFrom(bytes, layout.valuesHead, count);
  } catch (cause) {
    throw new HearthError("INTEGRITY", "a tree leaf's values are not laid out as its keys say; restore the store from a replica or backup", { cause });
  }
}

function valueOffsetsFrom(bytes: Uint8Array, arrayHead: number, count: number): Uint32Array {
  const first = bytes[arrayHead]!;
  let at = arrayHead + 1;
  let length: number;
  if (first >= 0x80 && first < 0x98) length = first - 0x80;
  else if (first === 0x98) length = bytes[at++]!;
  else if (first === 0x99) {
    length = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
  } else throw UNUSUAL;
  if (length !== count) throw UNUSUAL;
  const offsets = new Uint32Array(count + 1);
  offsets[0] = at;
  skipDagCborItems(bytes, at, offsets.subarray(1));
  if (offsets[count] !== bytes.length) throw UNUSUAL;
  return offsets;
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
