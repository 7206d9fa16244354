/**
 * A direct dag-cbor encoder for *internal* tree nodes.
 *
 * Every single-key update rewrites one internal node per level, each
 * holding ~32 CIDs; the generic dag-cbor encoder spends ~2 µs per CID
 * building tokens, which made internal nodes cost more than the leaf that
 * actually changed. Their shape is fixed (a map of tag, keys, height,
 * children), so writing the canonical bytes directly is short, and a test
 * checks the bytes equal `dagCbor.encode` of the same node. Leaves, whose
 * values are arbitrary, go through the generic {@link encodeBlock}.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { sha256 } from "multiformats/hashes/sha2";
import { type Block, CID } from "../codec/block.js";
import type { TreeNode } from "./prolly-node.js";

const utf8 = new TextEncoder();
/** A short ASCII text string, head included. */
const cborText = (ascii: string): Uint8Array => Uint8Array.of(0x60 | ascii.length, ...utf8.encode(ascii));
// Map keys, written in dag-cbor's canonical order (shorter first, then bytewise).
const KEY_TAG = cborText("tag");
const KEY_KEYS = cborText("keys");
const KEY_HEIGHT = cborText("height");
const KEY_CHILDREN = cborText("children");
const MAP_OF_4 = 0xa4;
const CID_TAG = [0xd8, 42];

/** Grows a byte buffer as CBOR is appended to it. */
class ByteWriter {
  bytes = new Uint8Array(1024);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  raw(data: ArrayLike<number>): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  /** A CBOR head: major type and argument, in the shortest form (as dag-cbor requires). */
  head(major: number, value: number): void {
    this.reserve(5);
    const b = this.bytes;
    const m = major << 5;
    if (value < 24) b[this.length++] = m | value;
    else if (value < 0x100) {
      b[this.length++] = m | 24;
      b[this.length++] = value;
    } else if (value < 0x10000) {
      b[this.length++] = m | 25;
      b[this.length++] = value >>> 8;
      b[this.length++] = value & 0xff;
    } else {
      b[this.length++] = m | 26;
      b[this.length++] = value >>> 24;
      b[this.length++] = (value >>> 16) & 0xff;
      b[this.length++] = (value >>> 8) & 0xff;
      b[this.length++] = value & 0xff;
    }
  }

  text(value: string): void {
    const encoded = utf8.encode(value);
    this.head(3, encoded.length);
    this.raw(encoded);
  }
}

/** Encodes and addresses an internal node, byte for byte as `encodeBlock` would. */
export async function encodeInternalNode(node: TreeNode): Promise<Block<TreeNode>> {
  const { tag, keys, height } = node;
  const children = node.children!;
  const out = new ByteWriter();
  out.raw([MAP_OF_4]);
  out.raw(KEY_TAG);
  out.text(tag);
  out.raw(KEY_KEYS);
  out.head(4, keys.length);
  for (const key of keys) out.text(key);
  out.raw(KEY_HEIGHT);
  out.head(0, height);
  out.raw(KEY_CHILDREN);
  out.head(4, children.length);
  for (const child of children) {
    // dag-cbor links: tag 42 over a byte string of 0x00 followed by the CID's bytes.
    out.raw(CID_TAG);
    out.head(2, child.bytes.length + 1);
    out.raw([0]);
    out.raw(child.bytes);
  }
  const bytes = out.bytes.slice(0, out.length);
  const digest = await sha256.digest(bytes);
  return { cid: CID.createV1(dagCbor.code, digest), bytes, value: node };
}
