/**
 * A Bloom filter over string keys: "certainly not here" or "maybe here".
 * A run of changes (`./layered-tree.ts`) keeps one of its keys, so a
 * lookup of a key the run does not hold, the common case (most writes are
 * of documents no recent run touched), costs a few hash probes instead of
 * a walk down the run's tree.
 *
 * Sixteen bits and eleven probes per key: ~0.05 % false positives.
 * Probes are derived from two 32-bit hashes of the key's UTF-16 code units
 * (double hashing), so one pass over the key serves all of them.
 *
 * Why by hand: the filter is ~30 lines, must encode to bytes the ledger
 * stores (and decode them back unchanged on any platform), and the npm
 * filters either carry dependencies of their own or serialize to JSON.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/**
 * Bits per key: ~0.05 % false positives. A writer looks each document up
 * three times (its register at commit and at apply, its last change), past
 * as many as 16 runs; at 1 % (10 bits) that was ~0.5 needless run-leaf
 * reads per written document, each a likely cache miss.
 */
const BITS_PER_KEY = 16;
/** Probes per key (≈ ln 2 × bits per key). */
const PROBES = 11;

/** See the module docs. */
export class BloomFilter {
  /** The filter as stored: one byte (the number of probes), then the bits. */
  readonly bytes: Uint8Array;
  readonly #bits: number;
  readonly #probes: number;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.#probes = bytes[0]!;
    this.#bits = (bytes.length - 1) * 8;
  }

  /**
   * A filter holding `keys` (`count` of them, for sizing), with
   * `bitsPerKey` bits a key once it holds `count` (default: 16, ~0.05 %
   * false positives).
   */
  static of(keys: Iterable<string>, count: number, bitsPerKey = BITS_PER_KEY): BloomFilter {
    const filter = BloomFilter.empty(count, bitsPerKey);
    for (const key of keys) filter.add(key);
    return filter;
  }

  /** The stored length of a filter sized for `count` keys at `bitsPerKey` bits each. */
  static byteLength(count: number, bitsPerKey = BITS_PER_KEY): number {
    return 1 + Math.max(8, Math.ceil((Math.max(count, 1) * bitsPerKey) / 8));
  }

  /** An empty filter sized for `count` keys at `bitsPerKey` bits each. */
  static empty(count: number, bitsPerKey = BITS_PER_KEY): BloomFilter {
    const bytes = new Uint8Array(BloomFilter.byteLength(count, bitsPerKey));
    bytes[0] = bitsPerKey === BITS_PER_KEY ? PROBES : Math.max(1, Math.round(bitsPerKey * Math.LN2));
    return new BloomFilter(bytes);
  }

  /**
   * The filter stored as `bytes`.
   * @throws HearthError `INTEGRITY` if they are not a filter
   */
  static decode(bytes: Uint8Array): BloomFilter {
    if (!(bytes instanceof Uint8Array) || bytes.length < 2 || bytes[0]! < 1 || bytes[0]! > 32) {
      throw new HearthError("INTEGRITY", "a stored Bloom filter is malformed; the store is damaged");
    }
    return new BloomFilter(bytes);
  }

  /** False if `key` was certainly not added; true if it may have been. */
  has(key: string): boolean {
    keyHashes(key);
    return this.hasHashed();
  }

  /**
   * {@link has} for the key {@link keyHashes} was last called with: a
   * lookup through many filters hashes its key once.
   */
  hasHashed(): boolean {
    let h1 = hashed[0]!;
    let h2 = hashed[1]!;
    const bits = this.#bits;
    const small = bits <= MAX_INT_BITS;
    for (let i = 0; i < this.#probes; i++) {
      const bit = small ? bitIndex(h1, bits) : (h1 >>> 0) % bits;
      if ((this.bytes[1 + (bit >>> 3)]! & (1 << (bit & 7))) === 0) return false;
      h1 = (h1 + h2) | 0;
      h2 = (h2 + i) | 0;
    }
    return true;
  }

  /** Adds `key` (the filter's bytes change in place). */
  add(key: string): void {
    keyHashes(key);
    this.addHashed();
  }

  /** {@link add} for the key {@link keyHashes} was last called with. */
  addHashed(): void {
    let h1 = hashed[0]!;
    let h2 = hashed[1]!;
    const bits = this.#bits;
    const small = bits <= MAX_INT_BITS;
    for (let i = 0; i < this.#probes; i++) {
      const bit = small ? bitIndex(h1, bits) : (h1 >>> 0) % bits;
      this.bytes[1 + (bit >>> 3)]! |= 1 << (bit & 7);
      h1 = (h1 + h2) | 0;
      h2 = (h2 + i) | 0;
    }
  }
}

/** Filters up to this many bits take {@link bitIndex}'s integer path (2^30: 2 × (n − 1) + 1 stays an int32). */
const MAX_INT_BITS = 2 ** 30;

/**
 * `(h >>> 0) % bits`, the bit a probe hash picks, in int32 arithmetic only.
 * `h >>> 0` is a uint32, which V8 cannot keep in an int32, so the plain
 * expression is a floating-point remainder (a call out to `fmod`): ~65 ns
 * a negative lookup per filter, most of a lookup past a few dozen runs'
 * filters. Halving the hash first keeps every operand an int32, so V8
 * emits integer division: ~37 ns, and the very same bits (2q + r ≡
 * 2 (q mod n) + r, mod n), so stored filters read exactly as before.
 * `bits` must be at most {@link MAX_INT_BITS}.
 */
function bitIndex(h: number, bits: number): number {
  return ((((h >>> 1) % bits) * 2) + (h & 1)) % bits;
}

/** The last key's two hashes: one scratch pair, so hashing allocates nothing. */
const hashed = new Int32Array(2);

/**
 * Hashes `key` for the next {@link BloomFilter.hasHashed} calls: two
 * independent 32-bit hashes (FNV-1a, and a multiply-xorshift over the same
 * code units).
 */
export function keyHashes(key: string): void {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  hashed[0] = a;
  hashed[1] = (b ^ (b >>> 16)) | 1;
}
