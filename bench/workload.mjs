// The workload shared by every engine: the same documents, the same random
// read order, so the columns of the table differ only by engine.

const TAGS = ["home", "work", "errand", "later", "urgent"];
const EPOCH = Date.UTC(2024, 0, 1);

/**
 * A small todo document (~125 bytes of JSON). Ids are explicit and sortable
 * because PouchDB's `put` requires one, and equal ids keep the engines'
 * workloads identical.
 * @param {number} i
 */
export function makeDoc(i) {
  return {
    _id: `todo-${String(i).padStart(6, "0")}`,
    title: `todo ${i}`,
    done: i % 2 === 0,
    n: i,
    tags: [TAGS[i % TAGS.length], TAGS[(i * 7 + 3) % TAGS.length]],
    created: new Date(EPOCH + i * 1000).toISOString(),
  };
}

/**
 * A random-looking, fixed id for document `i` (16 hex characters, as an app
 * using random ids would have): the scale bench's random-id load. Two
 * rounds of a 32-bit mix over i, so no two of the first billion collide in
 * practice and every engine gets the same ids.
 * @param {number} i
 */
export function randomDocId(i) {
  return `r-${mix32(i ^ 0x9e3779b9).toString(16).padStart(8, "0")}${mix32(i + 0x7f4a7c15).toString(16).padStart(8, "0")}`;
}

/** murmur3's 32-bit finalizer: a bijection on 32-bit integers. */
function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** How many of docs 0..n-1 have `done: true`: what the field query must return. */
export function expectedDoneCount(n) {
  return Math.ceil(n / 2);
}

/**
 * A seeded shuffle of 0..n-1, so "get by id in random order" touches the same
 * ids in the same order for every engine and every run.
 * @param {number} n
 * @param {number} seed
 */
export function shuffledIndexes(n, seed = 0x5eed) {
  const next = seededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * `k` distinct indexes of 0..n-1 in a seeded random order, without the n-long
 * array `shuffledIndexes` builds: the scale bench reads 100,000 of 1,000,000
 * docs in a process whose peak RSS it reports.
 * @param {number} n
 * @param {number} k at most n
 * @param {number} seed
 */
export function sampleIndexes(n, k, seed = 0x5eed) {
  if (k > n) throw new RangeError(`cannot pick ${k} distinct indexes of ${n}`);
  const next = seededRandom(seed);
  const picked = new Set();
  while (picked.size < k) picked.add(Math.floor(next() * n));
  return [...picked];
}

/** mulberry32: tiny, fast, good enough to defeat sequential caching. Numbers in [0, 1). */
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Checks that a document read back is the one written, so a fast engine that
 * returns the wrong thing cannot win a row.
 */
export function checkDoc(doc, i) {
  const want = makeDoc(i);
  if (!doc || doc._id !== want._id || doc.n !== i || doc.title !== want.title || doc.done !== want.done) {
    throw new Error(`read back wrong document for ${want._id}: ${JSON.stringify(doc)?.slice(0, 200)}`);
  }
}
