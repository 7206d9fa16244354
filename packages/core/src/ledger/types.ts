/**
 * The public shapes of the ledger API: options and results.
 *
 * @module
 */
import type { DocFile } from "../files/ledger-files.js";
import type { FileInput } from "../files/input.js";
import type { JsonValue } from "../doc/normalize.js";
import type { Durability } from "../store/types.js";
import type { Keyring } from "../keyring/types.js";
import type { LockWait } from "../store/lock-wait.js";

/**
 * A position in a ledger's history, for `changes(since)`. Normally the
 * ledger's heads (event CIDs); a `changes` page that ends inside a commit
 * returns a cursor of the form `["@<position>"]` instead. Treat it as opaque.
 */
export type Clock = string[];

/** A document as read: JSON fields plus its `_id`. */
export interface Doc {
  _id: string;
  /** Present when read with `{ conflicts: true }`. */
  _conflicts?: Doc[];
  /** The document's files, by name (see `DocFile`); absent when it has none. */
  _files?: Record<string, DocFile>;
  [field: string]: unknown;
}

/** A document as written: `_id` is optional (generated if absent). */
export interface DocInput {
  _id?: string;
  /**
   * Changes to the document's files: a name maps to new content, to `null`
   * (remove that file) or to a file read back (keep it, possibly under a
   * new name); names not mentioned keep their files, and `_files: null`
   * removes them all. Absent: the files stay as they are.
   */
  _files?: Record<string, FileInput | DocFile | null> | null;
  [field: string]: unknown;
}

/** Options for `open`. */
export interface OpenOptions {
  /**
   * Where the ledger lives: `memory://<name>`, `file:///absolute/dir` (Node),
   * `indexeddb://<name>` (browsers). Default: `$HEARTH_DIR/<name>` (else
   * `~/.hearth/<name>`) in Node, `indexeddb://hearth-<name>` in browsers.
   */
  store?: string;
  /**
   * The device keyring: a URL (`file:///dir`, `memory://<name>`,
   * `indexeddb://<name>`) or an open {@link Keyring}. Default: the device
   * keyring beside the default ledgers (`$HEARTH_DIR/.keyring`, or
   * `indexeddb://hearth-keyring`); for `memory://` stores, the process's
   * in-memory keyring `memory://device`.
   */
  keyring?: string | Keyring;
  /** `"process"` (default): survives `kill -9`; `"fsync"`: survives power loss. */
  durability?: Durability;
  /**
   * When the store is open elsewhere (another process or container; in this
   * process with another keyring or durability; another tab with
   * `tabs: "exclusive"`): `false` (default) fails at once with `LOCKED`;
   * `true` waits until it is free, for as long as that takes;
   * `{ timeoutMs, signal }` waits at most that long, then fails with
   * `LOCKED`. Only one holder writes a store.
   */
  wait?: LockWait;
  /**
   * Browsers: `"share"` (default) makes a ledger open in another tab or
   * worker of this origin one database for both: this tab uses the owner's
   * (its calls, subscriptions and sync points go through the owner tab),
   * and takes over when the owner goes (`tabs/follower.ts`).
   * `"exclusive"`: another tab's ledger is `LOCKED` (or waited for). Node
   * ignores it.
   */
  tabs?: "share" | "exclusive";
  /**
   * Memory, in bytes, the ledger may keep for tree nodes it has read (its
   * documents, change feed and indexes), least recently used out first.
   * Default 64 MiB (`DEFAULT_CACHE_BYTES`). Memory is set by this, not by the
   * ledger's size: a bigger budget makes random reads of a large ledger
   * faster, a smaller one keeps a process lean. Nodes written since the last
   * checkpoint are held in addition, until the checkpoint stores them.
   */
  cacheBytes?: number;
}

/** Result of `put` and `del`. */
export interface WriteResult {
  id: string;
  clock: Clock;
}

/** Result of `ingest`. */
export interface IngestResult {
  /** Events applied by this call (including earlier ones it unblocked). */
  applied: number;
  /** Events held in memory, waiting for parents that have not arrived. */
  waiting: number;
  /** Events refused (their lamport breaks the rule, or they build on a refused event): never applied. */
  refused: number;
}

/** Result of `bulk`. */
export interface BulkResult {
  ids: string[];
  clock: Clock;
}

/** Options for `get`. */
export interface GetOptions {
  /** Add `_conflicts`: the concurrent writes this version beat (deleted ones omitted). */
  conflicts?: boolean;
}

/** Key selection shared by `allDocs` and `query`. At most one of key/keys/prefix/range. */
export interface RangeOptions<K> {
  /** Exactly this key. */
  key?: K;
  /** These keys, in this order. */
  keys?: K[];
  /** Keys starting with this (strings; or, for `query`, array keys starting with these items). */
  prefix?: K extends string ? string : string | JsonValue[];
  /** From `range[0]` to `range[1]`, both inclusive. */
  range?: [K, K];
  /** Largest key first. */
  descending?: boolean;
  /** At most this many rows (a non-negative integer). */
  limit?: number;
}

/** Options for `allDocs`. */
export interface AllDocsOptions extends RangeOptions<string> {
  /** Also list deleted documents, as `{ _id, _deleted: true }`. */
  includeDeleted?: boolean;
}

/** A row of `allDocs` or `changes`. */
export interface DocRow {
  key: string;
  value: Doc | { _id: string; _deleted: true };
}

/** Result of `allDocs` and `changes`. */
export interface DocRows {
  rows: DocRow[];
  clock: Clock;
}

/** Options for `changes`. */
export interface ChangesOptions {
  /** At most this many rows; pass the returned clock back to continue. */
  limit?: number;
}

/** Options for `query`. */
export interface QueryOptions extends RangeOptions<JsonValue> {
  /** Attach each row's document as `doc`. */
  includeDocs?: boolean;
  /**
   * Name the index. A named index whose map function changes is rebuilt;
   * unnamed ones are identified by the function's source.
   */
  index?: string;
}

/** A row of `query`. */
export interface QueryRow {
  id: string;
  key: JsonValue;
  value: JsonValue;
  doc?: Doc;
}

/** Called after every commit, local or merged, with the documents it changed. */
export type Subscriber = (docs: Array<Doc | { _id: string; _deleted: true }>) => void;
