/**
 * Copies of small byte strings packed into shared slabs.
 *
 * Why: bytes kept in memory for a while, one small buffer each (an event
 * reference in a register, a value taken out of a leaf), cost the garbage
 * collector a tracked `ArrayBuffer` apiece, and a view of a bigger buffer
 * (the leaf it came from) keeps that whole buffer alive. A copy into a
 * shared slab costs neither; a slab is freed once no copy in it is
 * referenced.
 *
 * @module
 */

/** Hands out copies of byte strings, packed into slabs of a fixed size. */
export class SlabCopier {
  readonly #slabBytes: number;
  readonly #maxCopy: number;
  #slab = new Uint8Array(0);
  #used = 0;

  /**
   * @param slabBytes - size of each slab
   * @param maxCopy - longer byte strings get a buffer of their own
   */
  constructor(slabBytes: number, maxCopy: number) {
    this.#slabBytes = slabBytes;
    this.#maxCopy = maxCopy;
  }

  /** A copy of `bytes` that is never written again. */
  copy(bytes: Uint8Array): Uint8Array {
    if (bytes.length > this.#maxCopy) return bytes.slice();
    if (this.#used + bytes.length > this.#slab.length) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const copy = this.#slab.subarray(this.#used, this.#used + bytes.length);
    copy.set(bytes);
    this.#used += bytes.length;
    return copy;
  }
}
