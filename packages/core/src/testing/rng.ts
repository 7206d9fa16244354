/**
 * A small deterministic PRNG (mulberry32): random choices that are a pure
 * function of a seed, so a failing run replays. Used by `faultyRemote` and
 * by the property tests.
 *
 * @module
 */

/** Returns a generator of numbers in [0, 1) determined by `seed`. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
