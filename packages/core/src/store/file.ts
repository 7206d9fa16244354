/**
 * The file byte store (`file:///abs/dir`): Hearth's default local store on
 * Node. A bitcask-style design, chosen because it makes the promises of
 * {@link ByteStore} cheap:
 *
 * - **One append per batch.** Each `write(batch)` becomes one framed,
 *   CRC-checked record ({@link ./file-format}) appended to the single active
 *   log. A batch is atomic because a record is either whole or, at open,
 *   recognised as a torn tail and cut off. A bad record with valid records
 *   after it is damage, not a torn write: the open is refused rather than
 *   silently dropping the acknowledged batches that follow it.
 * - **One read per get.** An index (key → file, offset, length) serves
 *   `get` with one positioned read and `list` without touching the disk.
 *   A clean close writes it to disk ({@link ./file-index-run}), and the
 *   next open reads it in one piece instead of replaying the log, so
 *   opening a million-document store costs milliseconds, not a pass over
 *   its log; after a crash, the open replays the log as before. A close
 *   after a few writes writes only what changed since ({@link ./file-index-delta}).
 * - **Durability levels.** `"process"` resolves once the record is handed to
 *   the OS (survives `kill -9`); `"fsync"` also waits for `fdatasync`
 *   (survives power loss). Writes are applied in call order; writes queued
 *   behind one in flight are group-committed: one append, at most one sync.
 * - **Compaction** in the background once more than half of a log of a few
 *   MiB is dead: live values are copied to a new generation, the records
 *   appended meanwhile are copied after them, and the new log is fsynced
 *   and renamed into place. A crash at any instant leaves either the old or
 *   the new log complete. Close compacts too, but only logs small enough to
 *   take no time; a big log's dead bytes wait for the background, so close
 *   stays fast whatever the size.
 * - **One writer**: a kernel lock on the current log ({@link ./file-lock},
 *   {@link ./file-open}) keeps every other handle, thread, process and
 *   container out while the store is open; a second opener gets `LOCKED`
 *   or, with `wait`, waits.
 * - **A commit record** ({@link ./file-commit}) rewritten after every
 *   commit, so an open can tell a log that lost acknowledged records (cut
 *   short, a hole) from one with a torn unacknowledged tail.
 *
 * Node-only.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { isAbsolute, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HearthError } from "../errors.js";
import { copyLiveValues, copyTail, discard, type CompactedLog } from "./file-compact.js";
import { currentBoot, type CommitFile } from "./file-commit.js";
import { encodeRecord, type EncodedRecord } from "./file-format.js";
import { clearHolder } from "./file-holder.js";
import { LogIndex } from "./file-index.js";
import { INDEX_TEMP_FILE, logIdentity, stampLog, type IndexRun } from "./file-index-run.js";
import { DELTA_MAX_KEYS, INDEX_DELTA_FILE, INDEX_DELTA_TEMP_FILE, writeDelta, type IndexDelta } from "./file-index-delta.js";
import { datasync, readExact, readExactSync, storageFailed, SYNC_IO_LIMIT, writeAll, writeAllSync } from "./file-io.js";
import { ForeignLogError, LogFile, publishLog } from "./file-log.js";
import { holdStoreDirectory, openStoreDirectory } from "./file-open.js";
import { planWait, type LockWait } from "./lock-wait.js";
import { assertWriteBatch, assertWriteOptions } from "./memory.js";
import { assertStoreKey, type ByteStore, type WriteBatch, type WriteOptions } from "./types.js";

/** Tuning for {@link openFileStore}; the defaults suit ledgers. */
export interface FileStoreOptions {
  /**
   * When another handle or process has the store open: `false` (default)
   * fails at once with `LOCKED`; `true` waits until it is free; or
   * `{ timeoutMs, signal }` waits at most that long (then `LOCKED`).
   */
  readonly wait?: LockWait;
  /** Logs smaller than this are never compacted (default 4 MiB): rewriting them saves too little. */
  readonly compactMinBytes?: number;
  /** Compact once dead bytes exceed this fraction of the log (default 0.5). */
  readonly compactDeadRatio?: number;
}

/** A {@link ByteStore} on a directory, with the extra controls only a log-structured store has. */
export interface FileByteStore extends ByteStore {
  /** The directory holding the log and the lock. */
  readonly dir: string;
  /**
   * Rewrites the log without its dead bytes now, whatever the thresholds,
   * and resolves when the new log is in place. Compaction also runs by
   * itself; call this to reclaim space at a moment of your choosing.
   */
  compact(): Promise<void>;
  /** Current size of the active log in bytes (what compaction shrinks). */
  logSize(): number;
  /**
   * How this open found its index: `"index"` from the snapshot the last
   * clean close wrote (no replay), `"log"` by replaying the log (a new
   * store, or one not closed cleanly, or changed since).
   */
  readonly openedFrom: "index" | "log";
  /**
   * Compacts if a quarter or more of the log is dead (the ledger calls this
   * on close), unless a compaction is already under way in the background:
   * that one is doing the work, and `close` stops it at its next step
   * rather than wait for it (measured: a close after a million-document
   * random-id load waited ~1 s for one).
   */
  maintain(): Promise<void>;
  /**
   * Stops the background compaction at its next step and starts no other
   * (a close follows; see {@link ByteStore.windDown}). `compact()` and
   * `maintain()` still compact.
   */
  windDown(): void;
}

/**
 * Maps a `file:` URL to the absolute directory it names.
 *
 * @throws HearthError `INVALID_URL` for any other scheme or an unusable file URL.
 * @example
 * ```ts
 * fileUrlToDir("file:///home/me/.hearth/todos") // → "/home/me/.hearth/todos"
 * ```
 */
export function fileUrlToDir(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new HearthError("INVALID_URL", `not a URL: ${JSON.stringify(url)}; use "file:///absolute/dir"`, { cause });
  }
  if (parsed.protocol !== "file:") {
    throw new HearthError("INVALID_URL", `not a file URL: ${JSON.stringify(url)}; use "file:///absolute/dir"`);
  }
  try {
    return fileURLToPath(parsed);
  } catch (cause) {
    throw new HearthError("INVALID_URL", `unusable file URL ${JSON.stringify(url)}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Opens (creating if missing, mode 0700) the file store in `dir`, an
 * absolute directory path, for writing: no other handle, thread or process
 * can open it until this one is closed (or its process exits).
 *
 * @throws HearthError `LOCKED` if another handle or process has it open
 *   (the message names it; with `wait`, once the wait runs out);
 *   `INTEGRITY` if the log is damaged in the middle or lost acknowledged
 *   writes (the message names the offsets and how to recover; the files
 *   are left untouched); `STORAGE_FAILED` if the directory or its log
 *   cannot be read, written or locked.
 * @example
 * ```ts
 * const store = await openFileStore(fileUrlToDir("file:///tmp/ledger"));
 * await store.write({ put: [["k", bytes]] }, { durability: "fsync" });
 * const next = await openFileStore(dir, { wait: { timeoutMs: 5_000 } }); // waits for `store.close()`
 * ```
 */
export async function openFileStore(dir: string, options: FileStoreOptions = {}): Promise<FileByteStore> {
  if (typeof dir !== "string") throw new TypeError("file store directory must be a string");
  if (!isAbsolute(dir)) {
    throw new HearthError("INVALID_ARGUMENT", `file store directory must be absolute, got ${JSON.stringify(dir)}`);
  }
  const plan = planWait(options.wait);
  const index = new LogIndex();
  try {
    const opened = await openStoreDirectory(dir, index, plan);
    const store = new FileStore(dir, opened.log, index, opened.commit, opened.durableEnd, options, opened.fromSnapshot);
    store.maybeCompact();
    return store;
  } catch (cause) {
    index.release();
    if (cause instanceof HearthError) throw cause;
    if (cause instanceof ForeignLogError) throw storageFailed(`cannot open the store in ${dir}: ${cause.message}`, undefined);
    throw storageFailed(`cannot open the store in ${dir}`, cause);
  }
}

/** One queued `write` call. */
interface PendingWrite {
  readonly record: EncodedRecord;
  readonly fsync: boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024;
/**
 * Bytes appended since the last `fdatasync` after which one starts in the
 * background ({@link FileStore} `syncInBackground`).
 */
const BACKGROUND_SYNC_BYTES = 16 * 1024 * 1024;
const DEFAULT_COMPACT_DEAD_RATIO = 0.5;
/** Smallest log {@link FileByteStore.maintain} bothers to compact. */
const MAINTAIN_MIN_BYTES = 64 * 1024;
/** Dead fraction above which {@link FileByteStore.maintain} compacts. */
const MAINTAIN_DEAD_RATIO = 0.25;
/**
 * Largest log {@link FileByteStore.maintain} compacts: copying its live
 * part takes well under 100 ms. Bigger logs are left to the background
 * compaction while the store is open, so close never waits seconds.
 */
const MAINTAIN_MAX_BYTES = 16 * 1024 * 1024;
/** Group commits up to this size are joined into one buffer (one syscall); larger ones go record by record. */
const CONCAT_LIMIT = 1024 * 1024;

/**
 * The bytes of a group commit as few buffers as possible without copying
 * big values: consecutive small records are joined into chunks of up to
 * {@link CONCAT_LIMIT} (one write each), larger records go alone.
 */
function joinRecords(group: ReadonlyArray<PendingWrite>): Buffer[] {
  const chunks: Buffer[] = [];
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length > 0) chunks.push(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const { record } of group) {
    if (runBytes + record.bytes.length > CONCAT_LIMIT) flush();
    run.push(record.bytes);
    runBytes += record.bytes.length;
  }
  flush();
  return chunks;
}

class FileStore implements FileByteStore {
  readonly supports = { persistent: true, fsync: true } as const;
  readonly url: string;
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;
  /** Set when a failed write could not be rolled back; writes refuse until reopen. */
  private broken: HearthError | undefined;
  private readonly queue: PendingWrite[] = [];
  /** The drain loop, while it runs; it owns the log's tail. */
  private draining: Promise<void> | undefined;
  /** Compaction's final step, waiting for the drain loop to run it between writes. */
  private pendingSwitch: (() => Promise<void>) | undefined;
  private compaction: Promise<void> | undefined;
  /** Set by {@link windDown}: background compaction stops at its next step, and none starts. */
  private woundDown = false;
  /** An `fdatasync` of the log started by {@link syncInBackground}, while it runs. */
  private backgroundSync: Promise<void> | undefined;
  /** Do not auto-compact again before the log reaches this size (after a failure or a no-gain run). */
  private nextCompactionAt = 0;
  private readonly compactMinBytes: number;
  private readonly compactDeadRatio: number;

  constructor(
    readonly dir: string,
    private log: LogFile,
    private readonly index: LogIndex,
    private readonly commitRecord: CommitFile,
    /** End of the log known to be on stable storage; the commit record's `durableEnd`. */
    private durableEnd: number,
    options: FileStoreOptions,
    /** The index on disk still describes the log: close need not write it again. */
    private snapshotCurrent: boolean,
  ) {
    this.url = pathToFileURL(dir).href;
    this.compactMinBytes = options.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
    this.compactDeadRatio = options.compactDeadRatio ?? DEFAULT_COMPACT_DEAD_RATIO;
    this.openedFrom = snapshotCurrent ? "index" : "log";
  }

  readonly openedFrom: "index" | "log";

  async get(key: string): Promise<Uint8Array | undefined> {
    assertStoreKey(key);
    this.assertOpen();
    const loc = this.index.get(key);
    if (!loc) return undefined;
    const value = new Uint8Array(loc.length);
    if (loc.length === 0) return value;
    try {
      if (loc.length <= SYNC_IO_LIMIT) {
        readExactSync(loc.file.fd, value, loc.offset);
      } else {
        loc.file.beginRead();
        try {
          await readExact(loc.file.fd, value, loc.offset);
        } finally {
          loc.file.endRead();
        }
      }
    } catch (cause) {
      throw storageFailed(`cannot read ${JSON.stringify(key)} from ${this.dir}`, cause);
    }
    return value;
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== "string") throw new TypeError("list prefix must be a string");
    this.assertOpen();
    return this.index.list(prefix);
  }

  async write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    assertWriteBatch(batch);
    assertWriteOptions(options);
    this.assertOpen();
    if (this.broken) throw this.broken;
    if (!batch.put?.length && !batch.del?.length) return;
    const record = encodeRecord(batch);
    const fsync = options?.durability === "fsync";
    if (!fsync && !this.draining && record.bytes.length <= SYNC_IO_LIMIT) {
      // Fast path: nothing ahead of us, so append now with one small
      // synchronous write, which costs far less than a thread-pool hop.
      const at = this.log.size;
      try {
        writeAllSync(this.log.fd, record.bytes, at);
      } catch (cause) {
        this.rollBack(at);
        throw storageFailed(`cannot append to the log in ${this.dir}`, cause);
      }
      this.apply(record, at);
      this.recordCommit();
      this.maybeCompact();
      this.syncInBackground();
      return;
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, fsync, resolve, reject });
      this.startDraining();
    });
  }

  async close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  async destroy(): Promise<void> {
    await this.close();
    if (!fs.existsSync(this.dir)) return; // destroyed already
    // Retake the lock so we never delete a store another handle has opened since.
    const held = await holdStoreDirectory(this.dir, undefined).catch((err: unknown) => {
      // A commit record without its log: nobody can hold that store, delete it as it is.
      if (err instanceof HearthError && err.code === "INTEGRITY") return undefined;
      throw err;
    });
    // Moved aside in one step while locked, then deleted: an opener racing
    // the deletion finds either the whole store (locked) or no directory
    // (and starts a new store), never a half-deleted one, and a log it
    // creates cannot be deleted under it.
    const doomed = `${this.dir}.destroyed-${randomBytes(6).toString("hex")}`;
    try {
      await fs.promises.rename(this.dir, doomed);
    } catch (cause) {
      await held?.close().catch(() => undefined);
      throw storageFailed(`cannot delete the store directory ${this.dir}`, cause);
    }
    await held?.close().catch(() => undefined);
    try {
      await fs.promises.rm(doomed, { recursive: true, force: true });
    } catch (cause) {
      throw storageFailed(`the store ${this.dir} is gone, but deleting its files (moved to ${doomed}) failed`, cause);
    }
  }

  async compact(): Promise<void> {
    this.assertOpen();
    await this.compaction;
    this.assertOpen();
    const run = this.runCompaction();
    this.trackCompaction(run.catch(() => undefined));
    await run;
  }

  logSize(): number {
    return this.log.size;
  }

  /**
   * Compacts now if a quarter of a log of 64 KiB to 16 MiB is dead — a lower
   * bar than the background trigger, because the ledger calls this on close,
   * when the work does not compete with writes and what stays on disk should
   * be what is live. Bigger logs are left to the background trigger: their
   * compaction takes seconds, which a close must not.
   */
  async maintain(): Promise<void> {
    this.assertOpen();
    if (this.compaction) return;
    const size = this.log.size;
    if (size < MAINTAIN_MIN_BYTES || size > MAINTAIN_MAX_BYTES) return;
    if (size - this.index.liveBytes > size * MAINTAIN_DEAD_RATIO) await this.compact();
  }

  /**
   * Stops the background compaction at its next step and starts no other:
   * the ledger calls this as its close begins, before its last checkpoint,
   * since close would discard that compaction's copy anyway (measured: up
   * to ~30 ms of the thread during the close after a million-document
   * random-id load). `compact()` and `maintain()` still compact.
   */
  windDown(): void {
    this.woundDown = true;
  }

  /** Starts a background compaction when the log is big enough and mostly dead. */
  maybeCompact(): void {
    if (this.state !== "open" || this.woundDown || this.compaction || this.pendingSwitch) return;
    const size = this.log.size;
    if (size < this.compactMinBytes || size < this.nextCompactionAt) return;
    const dead = size - this.index.liveBytes;
    if (dead <= size * this.compactDeadRatio) return;
    this.trackCompaction(
      this.runCompaction(true).catch(() => {
        // Nothing is lost (the old log stays current); retry only after the
        // log has grown by half again, so a persistent failure (disk full)
        // does not turn into a busy loop. An explicit compact() reports it.
        this.nextCompactionAt = size * 1.5;
      }),
    );
  }

  /** Remembers the running compaction (a promise that never rejects) until it settles. */
  private trackCompaction(run: Promise<void>): void {
    const tracked: Promise<void> = run.finally(() => {
      if (this.compaction !== tracked) return;
      this.compaction = undefined;
      // Writes made while it ran may already call for the next one.
      this.maybeCompact();
    });
    this.compaction = tracked;
  }

  /** Copies the live values into a new generation and switches to it; `background`: {@link windDown} stops it too. */
  private async runCompaction(background = false): Promise<void> {
    const source = this.log;
    const snapshotEnd = source.size;
    const entries = this.index.entriesIn(source);
    const stop = (): boolean => this.state !== "open" || (background && this.woundDown);
    let copy: CompactedLog | undefined;
    try {
      copy = await copyLiveValues(this.dir, source, source.generation + 1, entries, stop);
    } catch (cause) {
      throw storageFailed(`compaction of ${this.dir} failed; the old log is kept`, cause);
    }
    if (!copy) return;
    const compacted = copy;
    // The switch must not interleave with appends: hand it to the drain loop. A background
    // compaction stopped meanwhile is dropped there too: the switch copies every record appended
    // since it began (tens of MB during a bulk load) and fsyncs, for a close that is under way.
    await new Promise<void>((resolve, reject) => {
      this.pendingSwitch = () => (stop() ? discard(compacted) : this.switchLog(source, snapshotEnd, compacted)).then(resolve, reject);
      this.startDraining();
    });
  }

  /**
   * Compaction's final step, run by the drain loop with no append in
   * flight: copy the records appended since the snapshot, publish the new
   * log, and point the index at it.
   */
  private async switchLog(source: LogFile, snapshotEnd: number, copy: CompactedLog): Promise<void> {
    const tailStart = copy.size;
    let newLog: LogFile;
    try {
      if (this.broken) throw this.broken;
      await copyTail(source, snapshotEnd, source.size, copy);
      const path = await publishLog(this.dir, copy.tempPath, copy.fd);
      newLog = new LogFile(path, source.generation + 1, copy.fd, copy.size);
    } catch (cause) {
      await discard(copy);
      throw storageFailed(`compaction of ${this.dir} failed; the old log is kept`, cause);
    }
    // From the rename on, the new log is the one open() would pick: switch now.
    this.index.move(source, newLog, (key, offset) =>
      offset < snapshotEnd ? (copy.newOffsets.get(key) as number) : offset - snapshotEnd + tailStart,
    );
    this.log = newLog;
    this.snapshotCurrent = false;
    this.durableEnd = newLog.size; // published with an fsync
    this.recordCommit();
    this.nextCompactionAt = 0;
    await fs.promises.rm(source.path, { force: true }).catch(() => undefined); // open() removes it otherwise
    void source.close().catch(() => undefined);
  }

  private startDraining(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // Writes that arrived after the loop's last look at the queue (but
      // before this callback) saw `draining` set and only queued themselves.
      if (this.queue.length > 0 || this.pendingSwitch) this.startDraining();
      else this.maybeCompact();
    });
  }

  /** Appends queued writes in call order, group-committing whatever queued up meanwhile. */
  private async drain(): Promise<void> {
    for (;;) {
      const switchLog = this.pendingSwitch;
      if (switchLog) {
        this.pendingSwitch = undefined;
        await switchLog();
      }
      if (this.queue.length === 0) return;
      await this.commitGroup(this.queue.splice(0));
    }
  }

  private async commitGroup(group: PendingWrite[]): Promise<void> {
    const at = this.log.size;
    const fd = this.log.fd;
    try {
      if (this.broken) throw this.broken;
      const total = group.reduce((n, w) => n + w.record.bytes.length, 0);
      if (total <= SYNC_IO_LIMIT) {
        writeAllSync(fd, group.length === 1 ? group[0]!.record.bytes : Buffer.concat(group.map((w) => w.record.bytes)), at);
      } else {
        let pos = at;
        for (const chunk of joinRecords(group)) {
          await writeAll(fd, chunk, pos);
          pos += chunk.length;
        }
      }
      if (group.some((w) => w.fsync)) {
        await datasync(fd);
        this.durableEnd = at + total;
      }
    } catch (cause) {
      this.rollBack(at);
      const err = cause instanceof HearthError ? cause : storageFailed(`cannot append to the log in ${this.dir}`, cause);
      for (const w of group) w.reject(err);
      return;
    }
    let pos = at;
    for (const w of group) {
      this.apply(w.record, pos);
      pos += w.record.bytes.length;
    }
    this.recordCommit();
    for (const w of group) w.resolve();
    this.syncInBackground();
  }

  /**
   * Starts an `fdatasync` of the log, without waiting for it, once
   * {@link BACKGROUND_SYNC_BYTES} were appended since the last one. Close
   * makes the whole log durable ({@link makeDurable}); without these, a
   * long session's appends under `"process"` durability all waited for that
   * one sync (70–95 ms after loading a million documents at random ids).
   * Writes go on meanwhile; what the sync covered counts as durable once it
   * returns, if the log is still the current one.
   */
  private syncInBackground(): void {
    if (this.backgroundSync || this.state !== "open" || this.broken) return;
    const log = this.log;
    const end = log.size;
    if (end - this.durableEnd < BACKGROUND_SYNC_BYTES) return;
    log.beginRead(); // keeps the descriptor open through the sync, should compaction retire this log
    this.backgroundSync = datasync(log.fd)
      .then(
        () => {
          if (this.log === log && end > this.durableEnd) this.durableEnd = end;
        },
        () => undefined, // best effort: close syncs again, and reports a failure there
      )
      .finally(() => {
        log.endRead();
        this.backgroundSync = undefined;
      });
  }

  /**
   * Writes the commit record for the log as it now stands, before the
   * commit is acknowledged. If that fails the commit still stands (the
   * record is a lower bound: a stale one only weakens the open-time check).
   */
  private recordCommit(): void {
    try {
      this.commitRecord.write({ generation: this.log.generation, ackedEnd: this.log.size, durableEnd: this.durableEnd, boot: currentBoot() });
    } catch {
      // See above: nothing acknowledged depends on it.
    }
  }

  /** Makes a committed record visible: advances the log end and updates the index. */
  private apply(record: EncodedRecord, at: number): void {
    this.snapshotCurrent = false;
    this.log.size = at + record.bytes.length;
    const file = this.log;
    for (const key of record.dels) this.index.del(key);
    for (const put of record.puts) this.index.put(put.key, file, at + put.valueOffset, put.valueLength);
    // Also while a compaction runs: it took its list of entries when it
    // began, and its switch relocates a base folded meanwhile like any
    // other entry of the old log (`LogIndex.move`). Folds held back until
    // it ended left close a large overlay to merge: 47,530 keys, ~100 ms,
    // after a million documents at random ids, whose load compacts often.
    this.index.foldIfLarge(file);
  }

  /**
   * Cuts off whatever a failed append left after `at`, so a record whose
   * write "failed" cannot reappear at the next open. If even that fails the
   * store refuses further writes: its tail is unknown until reopened.
   */
  private rollBack(at: number): void {
    try {
      fs.ftruncateSync(this.log.fd, at);
    } catch (cause) {
      this.broken = storageFailed(`the log in ${this.dir} could not be repaired after a failed write; reopen the store`, cause);
    }
  }

  private async shutDown(): Promise<void> {
    this.state = "closing";
    // Stop compaction at its next step; let queued writes finish first.
    await this.compaction;
    while (this.draining) await this.draining;
    await this.compaction;
    // Nothing writes any more. The log's last sync is started first and the
    // index for the next open is built while it runs (a thread-pool fsync
    // and ~40 ms of this thread, after a million documents at random ids).
    const syncing = (this.backgroundSync ? this.backgroundSync.then(() => this.makeDurable()) : this.makeDurable()).then(
      () => true,
      () => false,
    );
    // After a few writes, only what changed since the snapshot on disk (file-index-delta.ts).
    const delta = this.snapshotCurrent || this.broken ? undefined : this.index.delta(this.log, DELTA_MAX_KEYS);
    const snapshot = this.snapshotCurrent || this.broken || delta ? undefined : this.indexSnapshot();
    if (await syncing) {
      if (delta) await this.writeIndexDelta(delta);
      else if (snapshot) await this.writeIndexSnapshot(snapshot);
    }
    this.commitRecord.close();
    await clearHolder(this.dir);
    // Closing the log's descriptor is what releases the lock: last.
    await this.log.close().catch(() => undefined);
    this.index.release();
    this.state = "closed";
  }

  /**
   * At close: puts the log, then the commit record, on stable storage, so a
   * store closed cleanly keeps every write through a power loss and the
   * next open checks the whole log. Costs nothing when nothing was written.
   */
  private async makeDurable(): Promise<void> {
    if (this.broken || this.durableEnd >= this.log.size) return;
    await datasync(this.log.fd);
    this.durableEnd = this.log.size;
    this.recordCommit();
    await this.commitRecord.sync();
  }

  /** The index as the next open should find it, or `undefined` if it cannot be had now (best effort, as its writing). */
  private indexSnapshot(): IndexRun | undefined {
    try {
      return this.index.snapshot(this.log);
    } catch {
      return undefined;
    }
  }

  /**
   * At close, once the log is durable: writes `run`, the index for the next
   * open ({@link ./file-index-run}). Best effort: without it the next open
   * replays the log, so a failure here costs time, never data.
   */
  private async writeIndexSnapshot(run: IndexRun): Promise<void> {
    if (this.broken) return;
    try {
      // A file system that keeps only coarse times gets no snapshot (see stampLog).
      if (!stampLog(this.log.fd)) return;
      await run.write(this.dir, logIdentity(this.log.fd, this.log.generation));
      // A delta names the snapshot it extends, so one left now is never used: tidy it away.
      await fs.promises.rm(join(this.dir, INDEX_DELTA_FILE), { force: true });
    } catch {
      await fs.promises.rm(join(this.dir, INDEX_TEMP_FILE), { force: true }).catch(() => undefined);
    }
  }

  /**
   * At close, once the log is durable: writes what changed since the
   * snapshot on disk as its delta ({@link ./file-index-delta}), leaving the
   * snapshot as it is. Best effort, as {@link writeIndexSnapshot}.
   */
  private async writeIndexDelta(delta: Omit<IndexDelta, "log">): Promise<void> {
    if (this.broken) return;
    try {
      if (!stampLog(this.log.fd)) return;
      await writeDelta(this.dir, { ...delta, log: logIdentity(this.log.fd, this.log.generation) });
    } catch {
      await fs.promises.rm(join(this.dir, INDEX_DELTA_TEMP_FILE), { force: true }).catch(() => undefined);
    }
  }

  private assertOpen(): void {
    if (this.state !== "open") {
      throw new HearthError("STORE_CLOSED", `file store ${this.dir} is closed; open it again to use it`);
    }
  }
}
