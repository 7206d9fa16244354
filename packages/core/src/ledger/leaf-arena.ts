/**
 * The node cache's leaves, held as records in a few large segments that
 * are reused in turn: caching or evicting a leaf allocates and frees
 * nothing V8 must collect.
 *
 * Why: V8 lets the old generation's garbage grow to a few times what is
 * live before a full collection, and counts `ArrayBuffer`s with it. A
 * cache that held each leaf as its own objects (the leaf, its buffer, its
 * key and value tables: ~1.2 KB of heap and ~11 KB of buffers a leaf at a
 * million documents) made all of that garbage at every eviction: a fresh
 * process doing 100,000 random gets on a million-document ledger peaked
 * at ~255 MB of RSS with a 64 MB budget, against ~180 MB when collections
 * were forced often. (Keeping only the bytes in segments, and the objects
 * per leaf, was tried first: V8 then collected less often and the heap's
 * garbage took the buffers' place, ~260 MB.) Here a leaf is a record in a
 * segment and a few numbers in typed columns; the only object per leaf is
 * its entry in the key → slot map.
 *
 * A record holds what reading the leaf needs, so a hit decodes nothing:
 * its key spans (u32 pairs), where values end (u32s), then its bytes. The
 * ends are filled in as reads find them (a read writes them into the
 * record, and a column counts them). Finding them all when the leaf was
 * added walked every value's CBOR structure, where a lookup needs only
 * those before its key, and a scan that cached a leaf walked it twice.
 * Measured: a fresh process's random gets on a million documents 3–8 %
 * faster in pairs, 14,277 → 17,207/s in the scale bench; a browser reload
 * reading all of 50,000 documents 348–355 → 302–315 ms. The walk a scan
 * no longer makes is made by the first gets in each leaf after it: the
 * browser bench's random gets after its read-all went from 107,000–
 * 167,000 to 93,000–117,000 a second (Dexie's: ~3,000).
 *
 * A point lookup reads its value in place and at once
 * ({@link LeafArena.lookup}): nothing can move a segment before it
 * returns. A leaf handed out ({@link LeafArena.get}: scans and
 * mutations, which may hold it across awaits while the ring turns) is
 * built over a copy of its record, packed into a shared slab: young
 * garbage, which V8 frees cheaply. (A copy per hit, a buffer of its own
 * each, had halved warm gets.)
 *
 * Eviction is by segment, oldest first (the segments form a ring): a
 * segment about to be reused keeps the leaves read since it was last
 * reused, moved to its front and unmarked (a second chance, as in the
 * CLOCK the rest of the cache uses), and drops the others.
 *
 * Only leaves whose keys are all ASCII are held (the others keep their
 * keys as strings, which a record cannot); the cache keeps those, and
 * leaves larger than a segment, as objects.
 *
 * @module
 */
import { EncodedLeaf } from "../crdt/prolly-leaf.js";
import { NOT_HELD } from "../crdt/prolly-node.js";
import { SlabCopier } from "../codec/slab.js";

/** Size of the slabs leaves handed out are copied into. */
const HAND_OUT_SLAB_BYTES = 256 * 1024;

/** Memory a held leaf takes besides its record: its map entry and key string, and its column cells, roughly. */
const SLOT_OVERHEAD = 160;

/** Bytes of leaf `leaf`'s record: its key spans and value ends (u32s), then its bytes, padded to 4. */
function recordBytes(keyCount: number, byteLength: number): number {
  return 4 * (3 * keyCount + 1) + ((byteLength + 3) & ~3);
}

/** Leaves by key, held as records in segments reused oldest first. */
export class LeafArena {
  readonly #segmentBytes: number;
  /** Memory the segments and the slots may take. */
  readonly #capacity: number;
  readonly #segments: Uint8Array[] = [];
  /** The slots placed in each segment, in the order their records lie. */
  readonly #placed: number[][] = [];
  readonly #slotOf = new Map<string, number>();
  /** Per slot: the key, the tag's index in `#tags`, the segment, the record's start, the key count, the leaf's byte length, read since placed. */
  #keys: (string | undefined)[] = [];
  #tagOf = new Uint16Array(0);
  #segmentOf = new Uint16Array(0);
  #startOf = new Uint32Array(0);
  #keyCountOf = new Uint32Array(0);
  #lengthOf = new Uint32Array(0);
  /** Per slot: how many values' ends its record holds (see the module docs). */
  #foundOf = new Uint32Array(0);
  #used = new Uint8Array(0);
  readonly #freeSlots: number[] = [];
  /** The trees' tags seen (a handful: the state tree's and each index's). */
  readonly #tags: string[] = [];
  /** The segment being filled, and how far. */
  #current = -1;
  #fill = 0;
  /**
   * Where leaves handed out get their copies ({@link LeafArena.get}): a
   * buffer of its own per hit (an `ArrayBuffer` V8 must set up and track)
   * was a third of a warm get. Copies are never written, so sharing a slab
   * is safe; a slab lives as long as any leaf handed out of it.
   */
  readonly #handOut = new SlabCopier(HAND_OUT_SLAB_BYTES, HAND_OUT_SLAB_BYTES / 4);

  /**
   * @param capacityBytes - memory the segments and the held leaves' bookkeeping may take
   * @param segmentBytes - size of one segment (a multiple of 4); a leaf whose record is larger is not held
   */
  constructor(capacityBytes: number, segmentBytes: number) {
    if (segmentBytes % 4 !== 0) throw new RangeError(`an arena segment must be a multiple of 4 bytes, got ${segmentBytes}`);
    this.#capacity = capacityBytes;
    this.#segmentBytes = segmentBytes;
  }

  /** Memory held now: the segments allocated so far and the held leaves' bookkeeping. */
  get bytes(): number {
    return this.#segments.length * this.#segmentBytes + this.#slotOf.size * SLOT_OVERHEAD;
  }

  /** Number of leaves held. */
  get size(): number {
    return this.#slotOf.size;
  }

  /** A leaf read from `key`'s record, over a copy of it, and marked as read; `undefined` if none is held. */
  get(key: string): EncodedLeaf | undefined {
    const slot = this.#slotOf.get(key);
    if (slot === undefined) return undefined;
    this.#used[slot] = 1;
    const start = this.#startOf[slot]!;
    // Records are multiples of 4 long and slabs start at 0, so every copy stays 4-aligned for its tables.
    const copy = this.#handOut.copy(this.#segments[this.#segmentOf[slot]!]!.subarray(start, start + this.#recordBytesOf(slot)));
    return this.#leafIn(slot, copy, 0);
  }

  /**
   * The value under `probe` in the leaf held under `key`, read in place
   * and at once (no copy: nothing can move a segment before this returns;
   * the value decoded is new and the caller's), the leaf marked as read;
   * `undefined` if the leaf has no such key, {@link NOT_HELD} if no leaf of
   * tree `tag` is held under `key`. What a point lookup uses instead of
   * {@link get}, whose copy of the whole leaf was most of a warm get.
   */
  lookup(key: string, tag: string, probe: string): unknown {
    const slot = this.#slotOf.get(key);
    if (slot === undefined || this.#tags[this.#tagOf[slot]!] !== tag) return NOT_HELD;
    this.#used[slot] = 1;
    const leaf = this.#leafIn(slot, this.#segments[this.#segmentOf[slot]!]!, this.#startOf[slot]!);
    const i = leaf.lowerBound(probe);
    if (!(i < leaf.keyCount && leaf.keyIs(i, probe))) return undefined;
    const value = leaf.valueAt(i);
    // The ends the read found are in the record now (the leaf wrote them there): count them.
    if (leaf.valuesFound > this.#foundOf[slot]!) this.#foundOf[slot] = leaf.valuesFound;
    return value;
  }

  /** The leaf of `slot`'s record, which lies at `start` in `holder` (4-aligned in its buffer): views, no copy. */
  #leafIn(slot: number, holder: Uint8Array, start: number): EncodedLeaf {
    const keyCount = this.#keyCountOf[slot]!;
    const at = holder.byteOffset + start;
    const bytesAt = start + 4 * (3 * keyCount + 1);
    return new EncodedLeaf(
      this.#tags[this.#tagOf[slot]!]!,
      new Uint32Array(holder.buffer, at, 2 * keyCount),
      holder.subarray(bytesAt, bytesAt + this.#lengthOf[slot]!),
      new Uint32Array(holder.buffer, at + 8 * keyCount, keyCount + 1),
      this.#foundOf[slot]!,
    );
  }

  /** Bytes of `slot`'s record. */
  #recordBytesOf(slot: number): number {
    return recordBytes(this.#keyCountOf[slot]!, this.#lengthOf[slot]!);
  }

  /** True if a leaf is held under `key`. */
  has(key: string): boolean {
    return this.#slotOf.has(key);
  }

  /** True if `leaf` would be held, and without evicting anything. */
  fits(leaf: EncodedLeaf): boolean {
    const size = recordBytes(leaf.keyCount, leaf.bytes.length);
    if (!leaf.keySpans || size > this.#segmentBytes) return false;
    if (this.#current >= 0 && this.#fill + size <= this.#segmentBytes) return true;
    return this.#mayGrow();
  }

  /**
   * Holds `leaf` under `key` (as a record: the caller keeps `leaf`),
   * evicting the oldest segment's unread leaves if there is no room.
   * Returns false, holding nothing, for a leaf it cannot hold: one with
   * keys that are not all ASCII or one larger than a segment. Values are
   * not looked at: one not laid out as the keys say is reported by the
   * read that reaches it (`INTEGRITY`), from the arena as from the leaf.
   */
  add(key: string, leaf: EncodedLeaf): boolean {
    if (this.#slotOf.has(key)) return true;
    const spans = leaf.keySpans;
    const keyCount = leaf.keyCount;
    const length = leaf.bytes.length;
    const size = recordBytes(keyCount, length);
    if (!spans || size > this.#segmentBytes) return false;
    const ends = leaf.knownValueEnds();
    while (this.#current < 0 || this.#fill + size > this.#segmentBytes) this.#nextSegment();
    const segment = this.#segments[this.#current]!;
    const start = this.#fill;
    const table = new Uint32Array(segment.buffer, start, 3 * keyCount + 1);
    table.set(spans, 0);
    table.set(ends, 2 * keyCount);
    segment.set(leaf.bytes, start + 4 * (3 * keyCount + 1));
    this.#fill += size;

    const slot = this.#newSlot();
    this.#keys[slot] = key;
    this.#tagOf[slot] = this.#tagIndex(leaf.tag);
    this.#segmentOf[slot] = this.#current;
    this.#startOf[slot] = start;
    this.#keyCountOf[slot] = keyCount;
    this.#lengthOf[slot] = length;
    this.#foundOf[slot] = leaf.valuesFound;
    this.#used[slot] = 0;
    this.#placed[this.#current]!.push(slot);
    this.#slotOf.set(key, slot);
    return true;
  }

  #tagIndex(tag: string): number {
    const index = this.#tags.indexOf(tag);
    if (index >= 0) return index;
    this.#tags.push(tag);
    return this.#tags.length - 1;
  }

  /** A free slot, the columns grown (doubled) if there is none. */
  #newSlot(): number {
    const free = this.#freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.#keys.length;
    if (slot === this.#startOf.length) {
      const size = Math.max(256, 2 * slot);
      this.#tagOf = grown(this.#tagOf, new Uint16Array(size));
      this.#segmentOf = grown(this.#segmentOf, new Uint16Array(size));
      this.#startOf = grown(this.#startOf, new Uint32Array(size));
      this.#keyCountOf = grown(this.#keyCountOf, new Uint32Array(size));
      this.#lengthOf = grown(this.#lengthOf, new Uint32Array(size));
      this.#foundOf = grown(this.#foundOf, new Uint32Array(size));
      this.#used = grown(this.#used, new Uint8Array(size));
    }
    this.#keys.push(undefined);
    return slot;
  }

  /** True if one more segment stays within the capacity (with the slots held now). */
  #mayGrow(): boolean {
    return this.bytes + this.#segmentBytes <= this.#capacity && this.#segments.length < 0xffff;
  }

  /** Moves filling on to a new segment if the capacity allows one, else to the oldest, reused. */
  #nextSegment(): void {
    if (this.#segments.length === 0 || this.#mayGrow()) {
      this.#segments.push(new Uint8Array(this.#segmentBytes));
      this.#placed.push([]);
      this.#current = this.#segments.length - 1;
      this.#fill = 0;
      return;
    }
    this.#current = (this.#current + 1) % this.#segments.length;
    this.#fill = this.#reuse(this.#current);
  }

  /**
   * Empties segment `index` of its unread leaves and moves the read ones
   * to its front, unmarked (dropped next time round unless read again).
   * Returns where the free space starts.
   */
  #reuse(index: number): number {
    const segment = this.#segments[index]!;
    const kept: number[] = [];
    let fill = 0;
    for (const slot of this.#placed[index]!) {
      if (this.#used[slot] === 0) {
        this.#slotOf.delete(this.#keys[slot]!);
        this.#keys[slot] = undefined;
        this.#freeSlots.push(slot);
        continue;
      }
      const start = this.#startOf[slot]!;
      const size = this.#recordBytesOf(slot);
      // Records lie in order, so the front is never past the record being moved.
      if (start !== fill) segment.copyWithin(fill, start, start + size);
      this.#startOf[slot] = fill;
      this.#used[slot] = 0;
      kept.push(slot);
      fill += size;
    }
    this.#placed[index] = kept;
    return fill;
  }
}

/** `into` with `from`'s cells copied to its start. */
function grown<T extends Uint8Array | Uint16Array | Uint32Array>(from: T, into: T): T {
  into.set(from);
  return into;
}
