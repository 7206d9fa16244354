/**
 * The in-memory byte store (`memory://<name>`): what tests and ephemeral
 * ledgers run on. Stores opened with the same name in one process share
 * their data, so a ledger closed and reopened in the same process sees what
 * it wrote, exactly as it would on disk; nothing survives the process.
 *
 * Also home of {@link SortedKeys}, the lazily sorted key listing the file
 * store reuses (it has no Node dependency, so it lives here rather than in a
 * Node-only file).
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { assertStoreKey, type ByteStore, type WriteBatch, type WriteOptions } from "./types.js";

/**
 * A sorted view of a changing key set that is cheap to update and cheap to
 * list. Updates go to small side buffers (new keys unsorted, removed keys in
 * a set) and are merged into the sorted array only when somebody lists, so a
 * burst of writes costs O(1) per key and the next `list` costs
 * O(n + k log k) for k changed keys, instead of O(n) per write (array
 * splicing) or O(n log n) per list (re-sorting everything).
 *
 * The caller keeps the authoritative membership (a `Map`) and must call
 * {@link SortedKeys.add} only for keys that were absent and
 * {@link SortedKeys.remove} only for keys that were present.
 */
export class SortedKeys {
  private sorted: string[] = [];
  private added: string[] = [];
  private removed = new Set<string>();

  /** Records that `key` became present. */
  add(key: string): void {
    // A key removed since the last merge is still physically in `sorted` or
    // `added`; forgetting the removal brings it back without a duplicate.
    if (!this.removed.delete(key)) this.added.push(key);
  }

  /** Records that `key` stopped being present. */
  remove(key: string): void {
    this.removed.add(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.sorted = [];
    this.added = [];
    this.removed.clear();
  }

  /** Present keys starting with `prefix`, ascending by plain string comparison. */
  list(prefix: string): string[] {
    this.merge();
    const keys = this.sorted;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < keys.length; i++) {
      const key = keys[i] as string;
      if (!key.startsWith(prefix)) break;
      out.push(key);
    }
    return out;
  }

  private merge(): void {
    if (this.added.length === 0 && this.removed.size === 0) return;
    const removed = this.removed;
    // The default sort compares strings by UTF-16 code units, as `<` does, and twice as fast as a comparator.
    const fresh = (removed.size === 0 ? this.added : this.added.filter((k) => !removed.has(k))).sort();
    const old = this.sorted;
    const merged: string[] = new Array<string>();
    let i = 0;
    let j = 0;
    while (i < old.length || j < fresh.length) {
      const a = old[i];
      const b = fresh[j];
      if (b === undefined || (a !== undefined && a < b)) {
        i++;
        if (!removed.has(a as string)) merged.push(a as string);
      } else {
        j++;
        merged.push(b);
      }
    }
    this.sorted = merged;
    this.added = [];
    this.removed = new Set();
  }
}

/** Copies `value` into a fresh, plain `Uint8Array` (never a view of a shared pool). */
export function copyBytes(value: Uint8Array): Uint8Array {
  const copy = new Uint8Array(value.length);
  copy.set(value);
  return copy;
}

/**
 * Validates a whole batch before anything is applied, so an invalid key or
 * value anywhere rejects the batch without a partial write. Programmer
 * mistakes are `TypeError`s.
 */
export function assertWriteBatch(batch: WriteBatch): void {
  if (typeof batch !== "object" || batch === null) throw new TypeError("write batch must be an object { put?, del? }");
  for (const key of batch.del ?? []) assertStoreKey(key);
  for (const entry of batch.put ?? []) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError("each put must be a [key, value] pair");
    assertStoreKey(entry[0]);
    if (!(entry[1] instanceof Uint8Array)) throw new TypeError(`value for ${JSON.stringify(entry[0])} must be a Uint8Array`);
  }
}

/** Throws `TypeError` unless `options.durability` is absent or a known level, and `options.background` absent or a boolean. */
export function assertWriteOptions(options: WriteOptions | undefined): void {
  const d = options?.durability;
  if (d !== undefined && d !== "process" && d !== "fsync") {
    throw new TypeError(`durability must be "process" or "fsync", got ${JSON.stringify(d)}`);
  }
  const background = options?.background;
  if (background !== undefined && typeof background !== "boolean") {
    throw new TypeError(`background must be a boolean, got ${JSON.stringify(background)}`);
  }
  if (options?.compress !== undefined && typeof options.compress !== "function") {
    throw new TypeError(`compress must be a function of the key, got ${typeof options.compress}`);
  }
}

/** The data behind one `memory://` name, shared by every handle on it. */
interface MemoryData {
  readonly values: Map<string, Uint8Array>;
  readonly keys: SortedKeys;
}

/** Process-wide registry: name → data. Handles share it so reopen sees earlier writes. */
const memoryStores = new Map<string, MemoryData>();

const MEMORY_SCHEME = "memory://";

/**
 * Opens the in-memory store named by `url` (`memory://<name>`), creating it
 * empty if no store of that name exists in this process.
 *
 * @throws HearthError `INVALID_URL` when `url` is not a `memory://` URL.
 * @example
 * ```ts
 * const store = await openMemoryStore("memory://scratch");
 * await store.write({ put: [["a", new Uint8Array([1])]] });
 * ```
 */
export async function openMemoryStore(url: string): Promise<ByteStore> {
  if (typeof url !== "string") throw new TypeError("memory store URL must be a string");
  if (!url.startsWith(MEMORY_SCHEME)) {
    throw new HearthError("INVALID_URL", `not a memory store URL: ${JSON.stringify(url)}; use "memory://<name>"`);
  }
  const name = url.slice(MEMORY_SCHEME.length);
  let data = memoryStores.get(name);
  if (!data) {
    data = { values: new Map(), keys: new SortedKeys() };
    memoryStores.set(name, data);
  }
  return new MemoryStore(url, name, data);
}

class MemoryStore implements ByteStore {
  readonly supports = { persistent: false, fsync: false } as const;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly name: string,
    private readonly data: MemoryData,
  ) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    assertStoreKey(key);
    this.assertOpen();
    const value = this.data.values.get(key);
    return value === undefined ? undefined : copyBytes(value);
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== "string") throw new TypeError("list prefix must be a string");
    this.assertOpen();
    return this.data.keys.list(prefix);
  }

  async write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    assertWriteBatch(batch);
    assertWriteOptions(options);
    this.assertOpen();
    const { values, keys } = this.data;
    for (const key of batch.del ?? []) {
      if (values.delete(key)) keys.remove(key);
    }
    for (const [key, value] of batch.put ?? []) {
      if (!values.has(key)) keys.add(key);
      values.set(key, copyBytes(value));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async destroy(): Promise<void> {
    this.closed = true;
    // Clear in place so other open handles on this name see the data gone too.
    this.data.values.clear();
    this.data.keys.clear();
    if (memoryStores.get(this.name) === this.data) memoryStores.delete(this.name);
  }

  private assertOpen(): void {
    if (this.closed) throw new HearthError("STORE_CLOSED", `memory store ${this.url} is closed; open it again to use it`);
  }
}
