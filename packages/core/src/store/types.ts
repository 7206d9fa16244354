/**
 * The local byte store: the smallest interface a place that keeps bytes must
 * offer. Stores know nothing of documents, CIDs or encryption; the
 * encryption layer ({@link ../store/encrypted}) and the ledger sit on top.
 *
 * @module
 */
import type { LockWait } from "./lock-wait.js";

/**
 * How hard a write must be pushed before it is acknowledged.
 * - `"process"` (default): the bytes are handed to the operating system, so
 *   they survive the death of this process (`kill -9`), not a power loss.
 * - `"fsync"`: the bytes are on stable storage (`fdatasync`) before the
 *   write resolves, so they survive a power loss too.
 */
export type Durability = "process" | "fsync";

/** What a store can do, declared by the store rather than guessed by callers. */
export interface StoreCapabilities {
  /** Data outlives the process (file, IndexedDB); false for memory. */
  readonly persistent: boolean;
  /** `durability: "fsync"` is honoured (not merely accepted). */
  readonly fsync: boolean;
  /**
   * Bytes the store spends on each record besides its key and value, if
   * that is large enough to matter (absent: a few bytes). The ledger makes
   * fewer, bigger nodes of its own trees where records cost more (see
   * `largeNodes` in `ledger/state.ts`).
   */
  readonly recordOverhead?: number;
}

/**
 * An atomic group of changes. Deletes are applied before puts, so a key in
 * both ends up holding the put value. Either the whole batch is visible
 * after a crash, or none of it.
 */
export interface WriteBatch {
  readonly put?: ReadonlyArray<readonly [key: string, value: Uint8Array]>;
  readonly del?: ReadonlyArray<string>;
}

/** Options for opening a persistent store for writing. */
export interface StoreOpenOptions {
  /**
   * How long the open may wait for another holder: `false` (default) fails
   * at once with `LOCKED`; `true` waits until the store is free; or
   * `{ timeoutMs, signal }` waits at most that long (then `LOCKED`).
   */
  readonly wait?: LockWait;
}

/** Options for {@link ByteStore.write}. */
export interface WriteOptions {
  /** Defaults to `"process"`. */
  readonly durability?: Durability;
  /**
   * The write is background work (the ledger's checkpoints), not on a
   * caller's path, so a layer may spend more CPU on it to store it smaller:
   * the encryption layer compresses values from 256 bytes instead of 1 KiB.
   * Stores that do nothing with it accept it. Defaults to `false`.
   */
  readonly background?: boolean;
  /**
   * Whether the value under a key is worth compressing (default: every
   * one). The ledger says no for the nodes of its runs: written once, read
   * back once when merged, then deleted; compressing them cost ~40 % of a
   * random-id load's compression time for disk space held only briefly.
   * Stores that do not compress accept and ignore it.
   */
  readonly compress?: (key: string) => boolean;
}

/**
 * A key → bytes store with atomic batches and sorted prefix listing.
 *
 * Keys are non-empty strings of at most {@link MAX_KEY_LENGTH} printable
 * ASCII characters (0x21–0x7e); anything else is a `TypeError`. Keys sort by
 * plain string comparison. Values are copied on the way in and out, so
 * neither side can mutate the other's bytes. After {@link ByteStore.close},
 * every call rejects with `STORE_CLOSED`. I/O failures reject with
 * `STORAGE_FAILED` (the original error as `cause`), and leave the store as it
 * was before the failed call.
 */
export interface ByteStore {
  /** The URL this store was opened from (`memory://…`, `file:///…`, `indexeddb://…`). */
  readonly url: string;
  /** What this store can do. */
  readonly supports: StoreCapabilities;
  /** The value under `key`, or `undefined` if there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** All keys starting with `prefix`, ascending. `""` lists everything. */
  list(prefix: string): Promise<string[]>;
  /** Applies `batch` atomically. An empty batch is a no-op. */
  write(batch: WriteBatch, options?: WriteOptions): Promise<void>;
  /**
   * Optional: do deferred housekeeping now, if it is worth doing (the file
   * store compacts its log when much of it is dead). The ledger calls it on
   * close, so what stays on disk is what is live.
   */
  maintain?(): Promise<void>;
  /**
   * Optional: a close follows shortly (the ledger's last checkpoint comes
   * first), so stop background work whose result the close would throw
   * away, and start none (the file store stops its compaction, which close
   * discards, instead of letting it take the thread from that checkpoint).
   * Reads, writes, `maintain` and an explicit compaction still work.
   */
  windDown?(): void;
  /** Releases the store. Idempotent. Pending writes complete first. */
  close(): Promise<void>;
  /** Deletes every key and the store's own container (directory, database), then closes. */
  destroy(): Promise<void>;
}

/** Longest key a store must accept. */
export const MAX_KEY_LENGTH = 512;

/** Throws `TypeError` unless `key` is a valid store key. Stores call this on every key. */
export function assertStoreKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH || !isPrintableAscii(key)) {
    throw new TypeError(
      `store key must be 1–${MAX_KEY_LENGTH} printable ASCII characters without spaces, got ${JSON.stringify(key)}`,
    );
  }
}

// A plain loop: this runs on every key of every write and read, and beats a regex here.
function isPrintableAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
