/**
 * Internal tree nodes kept as their encoded bytes, making a child's CID
 * only when it is asked for.
 *
 * Why: a decoded internal node holds a CID object per child, and each CID
 * is five objects (the CID, its multihash digest, three byte views): ~330
 * bytes of heap for 36 bytes of CID. A million-document ledger has ~90,000
 * children in the internal nodes of its trees, and during a bulk load they
 * were half of the live heap, which V8 then grew to about three times that.
 * An {@link EncodedBranch} holds its bytes, its keys (decoded: a lookup
 * searches them at every level) and where each child's CID lies; a lookup
 * makes the one CID it follows, remembered for the next lookup through it.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { cidOver } from "../codec/cbor.js";
import { cidText, knownCidText } from "../codec/cid-text.js";
import { arrayHead, decodedKeys, type NodeLayout, ownBytes, UNUSUAL } from "./prolly-layout.js";
import type { TreeNode } from "./prolly-node.js";

/** An internal node ({@link TreeNode} of height > 0) over its encoded bytes. */
export class EncodedBranch implements TreeNode {
  readonly tag: string;
  readonly height: number;
  readonly keys: readonly string[];
  readonly #bytes: Uint8Array;
  /** Child i's CID bytes are `bytes[spans[2i] … spans[2i + 1])`. */
  readonly #spans: Uint32Array;
  /** Children's texts found so far, by index. */
  #texts: Array<string | undefined> | undefined;

  private constructor(tag: string, height: number, keys: readonly string[], bytes: Uint8Array, spans: Uint32Array) {
    this.tag = tag;
    this.height = height;
    this.keys = keys;
    this.#bytes = bytes;
    this.#spans = spans;
  }

  /**
   * Reads an internal node from `bytes` laid out as `layout` says; throws
   * {@link UNUSUAL} for anything but well-formed keys and children.
   */
  static read(bytes: Uint8Array, layout: NodeLayout): EncodedBranch {
    const keys = decodedKeys(bytes, layout.keysStart, layout.keysEnd);
    const spans = childSpans(bytes, layout.payloadHead);
    if (keys.length === 0 || spans.length !== 2 * keys.length) throw UNUSUAL;
    return new EncodedBranch(layout.tag, layout.height, keys, ownBytes(bytes), spans);
  }

  /**
   * Child `index`'s CID, for lookups and scans: made anew on each call, but
   * its text (what the node cache looks it up by) is worked out once and
   * kept, as a lookup's path is read again and again. Keeping the CIDs
   * themselves (the CID, its digest and three views: ~500 bytes of heap a
   * child with its text) held ~13 MB for the internal nodes of a
   * million-document ledger, and the collector's headroom over it as much
   * again; a fresh CID is young garbage, freed cheaply.
   */
  childAt(index: number): CID {
    const texts = (this.#texts ??= new Array<string | undefined>(this.keys.length));
    const cid = this.#makeChild(index);
    const text = texts[index];
    if (text !== undefined) return knownCidText(cid, text);
    texts[index] = cidText(cid);
    return cid;
  }

  /** Child `index`'s CID as text, worked out once and kept (see {@link childAt}); no CID is made once it is known. */
  childTextAt(index: number): string {
    return this.#texts?.[index] ?? cidText(this.childAt(index));
  }

  /**
   * Every child's CID, for mutations and walks: made anew on each read and
   * not kept (a bulk load's mutations pass through most internal nodes of a
   * tree keyed at random, and keeping every child they saw undid the point
   * of this class).
   */
  get children(): readonly CID[] {
    const out = new Array<CID>(this.keys.length);
    for (let i = 0; i < out.length; i++) out[i] = this.#makeChild(i);
    return out;
  }

  #makeChild(index: number): CID {
    return cidOver(this.#bytes.subarray(this.#spans[2 * index]!, this.#spans[2 * index + 1]!));
  }
}

/**
 * Where each child's CID bytes lie in the `children` array at `head`, which
 * must run to the end of `bytes`. Only the CID form {@link cidOver} makes
 * without copying is accepted here (CIDv1, one-byte codec, hash and length:
 * every CID Hearth writes); anything else throws {@link UNUSUAL}.
 */
function childSpans(bytes: Uint8Array, head: number): Uint32Array {
  const { length: count, at: first } = arrayHead(bytes, head);
  const spans = new Uint32Array(2 * count);
  let at = first;
  for (let i = 0; i < count; i++) {
    // Tag 42, a byte string, the identity multibase prefix 0x00, then the CID.
    if (bytes[at] !== 0xd8 || bytes[at + 1] !== 42) throw UNUSUAL;
    const byteHead = bytes[at + 2]!;
    let length: number;
    if (byteHead >= 0x40 && byteHead < 0x58) {
      length = byteHead - 0x40;
      at += 3;
    } else if (byteHead === 0x58) {
      length = bytes[at + 3]!;
      at += 4;
    } else throw UNUSUAL;
    if (length < 5 || bytes[at] !== 0x00) throw UNUSUAL;
    const start = at + 1;
    const end = at + length;
    if (end > bytes.length || bytes[start] !== 1 || bytes[start + 1]! >= 0x80 || bytes[start + 2]! >= 0x80 || end - start !== 4 + bytes[start + 3]!) {
      throw UNUSUAL;
    }
    spans[2 * i] = start;
    spans[2 * i + 1] = end;
    at = end;
  }
  if (at !== bytes.length) throw UNUSUAL;
  return spans;
}
