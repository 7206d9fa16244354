/**
 * A remote: the place replicas meet (a sync point). It needs only to keep
 * opaque bytes under opaque names; it never sees a key or a document. The
 * same sync engine runs over an in-process map, a shared directory, an S3
 * bucket or the Hearth sync server.
 *
 * Names are 1–512 characters of `[A-Za-z0-9._-]` in `/`-separated segments
 * of at most 255 characters, none empty, `.` or `..` (see
 * {@link assertRemoteName}). The sync engine uses `bundle/<cid>`,
 * `head/<cid>` and `key/…`; a remote must not care.
 *
 * @module
 */
import { HearthError } from "../errors.js";

/** What a remote can do, declared rather than guessed. */
export interface RemoteCapabilities {
  /** `watch` exists and pushes changes; without it the engine polls `list`. */
  readonly watch: boolean;
  /** Data outlives this process (file, S3, server); false for memory. */
  readonly persistent: boolean;
}

/**
 * One change a watch knows of: `name` was put (with its new value, when the
 * remote had it at hand and it is small) or deleted.
 */
export interface RemoteChange {
  readonly name: string;
  readonly op: "put" | "delete";
  /** The value put, if the remote passes values along; otherwise read it with `get`. */
  readonly bytes?: Uint8Array;
}

/**
 * Called by {@link Remote.watch} after names under the watched prefix may
 * have changed. With `changes`, the remote says exactly which names changed
 * in this notification (a hint that spares a `list`: they may have changed
 * again since); without it, anything may have changed and the listener
 * should `list` — remotes call it that way after a gap in which changes may
 * have been missed (a reconnect), and when they cannot tell names.
 */
export type RemoteChangeListener = (changes?: readonly RemoteChange[]) => void;

/**
 * The remote interface. All methods reject with `STORE_CLOSED` after
 * {@link Remote.close}; transient I/O failures (unreachable, timeouts,
 * 5xx) reject with `STORAGE_FAILED` and are retried by the engine; a
 * refused credential rejects with `UNAUTHORIZED`. Values are copied on the
 * way in and out.
 */
export interface Remote {
  /** The URL this remote was opened from (names the sync point in messages). */
  readonly url: string;
  /** What this remote can do. */
  readonly supports: RemoteCapabilities;
  /**
   * Optional: the largest value `put` accepts, in bytes, once the remote
   * knows it (the sync server says its `--max-body` on every answer; S3
   * takes 5 GiB in one put). Absent or `undefined`: no limit known. The
   * sync engine splits file blocks to fit and refuses up front a document
   * that could never fit.
   */
  readonly maxObjectBytes?: number | undefined;
  /**
   * Stores `bytes` under `name`, replacing any value. Resolves only once the
   * value is durable at the remote and visible to `get`/`list` of every
   * client. Writes are atomic: a reader sees the old value, the new one, or
   * (for a new name) nothing — never a prefix.
   */
  put(name: string, bytes: Uint8Array): Promise<void>;
  /** The bytes under `name`, or `undefined` if there are none. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** Every name starting with `prefix`, ascending by plain string order. */
  list(prefix: string): Promise<string[]>;
  /**
   * Optional: stores several values at once, in order — no entry becomes
   * visible before the entries before it — and resolves once all are
   * durable and visible. If it fails, a prefix of the entries may be stored.
   * The sync engine uses it to store a bundle and its announcement at once
   * where the remote offers it, and plain `put`s where not.
   */
  putAll?(entries: readonly RemoteEntry[]): Promise<void>;
  /**
   * Optional: stores the bytes of `chunks` under `name` as they arrive,
   * holding a chunk at a time rather than the whole value, atomically like
   * `put`. `beforePublish` runs once every byte is written and durable,
   * before the value becomes visible; if it (or the stream) throws, nothing
   * is stored. The sync server stores large request bodies this way.
   */
  putStream?(name: string, chunks: AsyncIterable<Uint8Array>, beforePublish?: () => void | Promise<void>): Promise<void>;
  /** Removes `name`; removing a missing name is not an error. */
  delete(name: string): Promise<void>;
  /**
   * Optional (see {@link RemoteCapabilities.watch}): calls `onChange` soon
   * after any name under `prefix` is put or deleted, by this client or any
   * other. May call it spuriously; never misses a change made after `watch`
   * returned. Returns a function that stops watching.
   */
  watch?(prefix: string, onChange: RemoteChangeListener): () => void;
  /** Releases resources (watchers, sockets, handles). Idempotent. */
  close(): Promise<void>;
}

/** A name and the value to store under it. */
export type RemoteEntry = readonly [name: string, bytes: Uint8Array];

/** Longest name a remote must accept. */
export const MAX_REMOTE_NAME_LENGTH = 512;

/**
 * Longest segment of a name: the common file-system limit for one path
 * component, so the file remote can store every valid name.
 */
export const MAX_REMOTE_SEGMENT_LENGTH = 255;

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Throws `INVALID_ARGUMENT` unless `name` is a valid remote name: 1–512
 * characters, `/`-separated segments of 1–255 characters of
 * `[A-Za-z0-9._-]`, none `.` or `..`. Remotes call this on every name, so
 * a name can never escape a directory or a bucket prefix.
 */
export function assertRemoteName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_REMOTE_NAME_LENGTH) {
    throw new HearthError("INVALID_ARGUMENT", `remote name must be 1–${MAX_REMOTE_NAME_LENGTH} characters, got ${JSON.stringify(name)}`);
  }
  for (const segment of name.split("/")) {
    if (!SEGMENT.test(segment) || segment === "." || segment === ".." || segment.length > MAX_REMOTE_SEGMENT_LENGTH) {
      throw new HearthError(
        "INVALID_ARGUMENT",
        `remote name ${JSON.stringify(name)} is malformed: use "/"-separated segments of 1–${MAX_REMOTE_SEGMENT_LENGTH} letters, digits, ".", "_" and "-" (no "." or ".." segments)`,
      );
    }
  }
}

/**
 * Checks the argument of {@link Remote.putAll}: an array of `[name, bytes]`
 * with valid names (`INVALID_ARGUMENT` otherwise) and byte values.
 * @throws TypeError for values of the wrong type
 */
export function assertRemoteEntries(entries: unknown): asserts entries is readonly RemoteEntry[] {
  if (!Array.isArray(entries)) throw new TypeError("putAll takes an array of [name, bytes] entries");
  for (const entry of entries as unknown[]) {
    const [name, bytes] = Array.isArray(entry) ? (entry as unknown[]) : [];
    assertRemoteName(name);
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`value for remote name ${JSON.stringify(name)} must be a Uint8Array`);
  }
}

/**
 * Throws `INVALID_ARGUMENT` unless `prefix` is a valid listing prefix: `""`
 * or a string of name characters (it may end in `/` or mid-segment). A
 * complete `.` or `..` segment is refused; a trailing `.` or `..` is
 * allowed, since it may begin a valid segment (`a/.` lists `a/.x`).
 */
export function assertRemotePrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== "string" || prefix.length > MAX_REMOTE_NAME_LENGTH || !/^[A-Za-z0-9._/-]*$/.test(prefix) || /(^|\/)\.\.?\//.test(prefix)) {
    throw new HearthError("INVALID_ARGUMENT", `remote prefix ${JSON.stringify(prefix)} is malformed`);
  }
}
