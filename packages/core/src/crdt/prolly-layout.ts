/**
 * Where the parts of a tree node lie in its encoded bytes, read from the
 * CBOR heads alone: what lets {@link ./prolly-leaf} and
 * {@link ./prolly-branch} keep nodes as their bytes and decode only what a
 * reader asks for.
 *
 * Nodes are dag-cbor maps of four fields in canonical order (shortest
 * name first): `tag`, `keys`, `height`, then `values` (leaves) or
 * `children` (internal nodes). Anything else (never written by Hearth, but
 * a block is only data) throws {@link UNUSUAL}, and the caller hands the
 * bytes to the full decoder, which decides what they are.
 *
 * @module
 */
import { decodeDagCbor, skipDagCbor } from "../codec/cbor.js";

/** The field names of a node's dag-cbor map, as UTF-8 text heads + bytes. */
const TAG_FIELD = Uint8Array.of(0x63, 0x74, 0x61, 0x67);
const KEYS_FIELD = Uint8Array.of(0x64, 0x6b, 0x65, 0x79, 0x73);
const HEIGHT_FIELD = Uint8Array.of(0x66, 0x68, 0x65, 0x69, 0x67, 0x68, 0x74);
const VALUES_FIELD = Uint8Array.of(0x66, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x73);
const CHILDREN_FIELD = Uint8Array.of(0x68, 0x63, 0x68, 0x69, 0x6c, 0x64, 0x72, 0x65, 0x6e);
/** A map of four entries. */
const MAP_OF_FOUR = 0xa4;

/** Thrown when the bytes are not laid out as this module expects; the full decoder decides. */
export const UNUSUAL = Symbol("unusual");

/** Where the parts of a node's canonical encoding start and end. */
export interface NodeLayout {
  readonly tag: string;
  readonly height: number;
  readonly keysStart: number;
  readonly keysEnd: number;
  /** The head of the `values` (height 0) or `children` array. */
  readonly payloadHead: number;
}

/** The layout of a node's bytes; throws {@link UNUSUAL} for anything laid out otherwise. */
export function nodeLayout(bytes: Uint8Array): NodeLayout {
  if (bytes[0] !== MAP_OF_FOUR) throw UNUSUAL;
  const tagStart = expectField(bytes, 1, TAG_FIELD);
  const tagEnd = skipDagCbor(bytes, tagStart);
  const tag = decodeDagCbor<unknown>(bytes.subarray(tagStart, tagEnd));
  if (typeof tag !== "string") throw UNUSUAL;
  const keysStart = expectField(bytes, tagEnd, KEYS_FIELD);
  const keysEnd = skipDagCbor(bytes, keysStart);
  let at = expectField(bytes, keysEnd, HEIGHT_FIELD);
  const first = bytes[at++]!;
  let height: number;
  if (first < 0x18) height = first;
  else if (first === 0x18) height = bytes[at++]!;
  else throw UNUSUAL;
  const payloadHead = expectField(bytes, at, height === 0 ? VALUES_FIELD : CHILDREN_FIELD);
  return { tag, height, keysStart, keysEnd, payloadHead };
}

/** The length of the array whose head is at `head`, and where its first item starts; throws {@link UNUSUAL} for anything but an array head. */
export function arrayHead(bytes: Uint8Array, head: number): { length: number; at: number } {
  const first = bytes[head]!;
  if (first >= 0x80 && first < 0x98) return { length: first - 0x80, at: head + 1 };
  if (first === 0x98) return { length: bytes[head + 1]!, at: head + 2 };
  if (first === 0x99) return { length: (bytes[head + 1]! << 8) | bytes[head + 2]!, at: head + 3 };
  throw UNUSUAL;
}

/** The keys at `start` … `end` decoded, checked to be strictly ascending strings; throws {@link UNUSUAL} otherwise. */
export function decodedKeys(bytes: Uint8Array, start: number, end: number): string[] {
  const keys = decodeDagCbor<unknown>(bytes.subarray(start, end));
  if (!Array.isArray(keys)) throw UNUSUAL;
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string") throw UNUSUAL;
    if (i > 0 && !(keys[i - 1] < keys[i])) throw UNUSUAL;
  }
  return keys as string[];
}

/**
 * `bytes` as a plain `Uint8Array` that owns its whole buffer: a view would
 * keep a larger buffer alive behind the cache's back. Always a plain
 * `Uint8Array`, never a `Buffer` (zlib's output), so the byte reads of key
 * searches see one kind of array (measured: a leaf search took ~1.3 µs when
 * leaves mixed the two).
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.byteLength) return new Uint8Array(bytes);
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, 0, bytes.byteLength);
}

/** The offset after `field` if the bytes at `at` are exactly it. */
function expectField(bytes: Uint8Array, at: number, field: Uint8Array): number {
  for (let i = 0; i < field.length; i++) if (bytes[at + i] !== field[i]) throw UNUSUAL;
  return at + field.length;
}
