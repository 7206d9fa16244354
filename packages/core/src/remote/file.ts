/**
 * The shared-directory remote (`file:///absolute/dir`): a sync point any
 * number of processes on one machine (or on a shared file system) can use
 * at once, with no server. Each name is a file, each `/` a subdirectory
 * (`head/abc` → `<dir>/head/abc`), so the layout is plain to inspect.
 *
 * - **Atomic puts.** A value is written to a temp file beside its target
 *   (`~tmp-<random>`: `~` is not a name character, so a temp file is never
 *   taken for a name) and renamed into place; readers see the old value or
 *   the new one, never a prefix. A writer killed before the rename leaves a
 *   temp file nobody lists; `list` removes those older than an hour.
 * - **Durability.** By default a put survives the death of the process
 *   (the bytes are with the OS); `fsync: true` also flushes the file and its
 *   directory, so it survives a power loss.
 * - **Push.** `watch` uses `fs.watch` for prompt notice of other processes'
 *   writes and polling as a safety net (see {@link DirectoryWatch}).
 *
 * Limits of mapping names to paths: a name cannot also be a directory of
 * longer names (`a` and `a/b` cannot both exist: such a put rejects
 * `INVALID_ARGUMENT`), and on case-insensitive file systems names differing
 * only in case collide. Hearth's own names (`bundle/<cid>`, `head/<cid>`,
 * `key/…`) avoid both.
 *
 * Node-only.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { HearthError } from "../errors.js";
import { copyBytes } from "../store/memory.js";
import { storageFailed } from "../store/file-io.js";
import { syncDirectory, writeTempFile } from "../store/durable-file.js";
import { parseLocation } from "../url.js";
import { DirectoryWatch, NAME_SEGMENT } from "./file-watch.js";
import { assertRemoteEntries, assertRemoteName, assertRemotePrefix, type Remote, type RemoteChangeListener, type RemoteEntry } from "./types.js";

/** Options for {@link openFileRemote}. */
export interface FileRemoteOptions {
  /** How often each watch compares listings, in case `fs.watch` missed something (ms, default 1000). */
  readonly pollMs?: number;
  /** Flush each put and delete to stable storage before resolving (default false). */
  readonly fsync?: boolean;
  /** @internal Tests set false to prove polling alone never misses a change. */
  readonly useFsWatch?: boolean;
}

const TEMP_PREFIX = "~tmp-";
/** Bytes of a streamed put written at once (pieces gathered, one `writev`). */
const STREAM_WRITE_BYTES = 1024 * 1024;
/** Temp files this old belong to a writer that died; no live put takes an hour. */
const STALE_TEMP_MS = 60 * 60 * 1000;

type ErrnoCode = string | undefined;
const errno = (err: unknown): ErrnoCode => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * Opens a client of the directory named by `url`, creating the directory if
 * it is missing. Several clients, in one process or many, may share it.
 *
 * @throws HearthError `INVALID_URL` for anything but `file:///absolute/dir`;
 *   `STORAGE_FAILED` if the directory cannot be created.
 * @example
 * ```ts
 * const remote = await openFileRemote("file:///srv/hearth/team", { fsync: true });
 * ```
 */
export async function openFileRemote(url: string, options: FileRemoteOptions = {}): Promise<Remote> {
  const location = parseLocation(url, "remote");
  if (location.scheme !== "file") {
    throw new HearthError("INVALID_URL", `${JSON.stringify(url)} is not a file remote URL; use "file:///absolute/dir"`);
  }
  const pollMs = options.pollMs ?? 1000;
  if (typeof pollMs !== "number" || !(pollMs > 0) || !Number.isFinite(pollMs)) throw new TypeError("pollMs must be a positive number of milliseconds");
  try {
    await fs.promises.mkdir(location.path, { recursive: true });
  } catch (err) {
    throw storageFailed(`cannot create the remote directory ${location.path}`, err);
  }
  return new FileRemote(url, location.path, { pollMs, fsync: options.fsync === true, useFsWatch: options.useFsWatch !== false });
}

class FileRemote implements Remote {
  readonly supports = { watch: true, persistent: true } as const;
  private readonly watches = new Set<DirectoryWatch>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly root: string,
    private readonly options: { pollMs: number; fsync: boolean; useFsWatch: boolean },
  ) {}

  /** A temp file, flushed, renamed into place, its directory flushed: {@link putAll} of one entry. */
  put(name: string, bytes: Uint8Array): Promise<void> {
    return this.putAll([[name, bytes]]);
  }

  /**
   * Several puts at once: every temp file is written (and flushed) in
   * parallel, then renamed into place in order — so no entry is visible
   * before the ones before it — and then the directories are flushed
   * together. Flushes that run together cost about one flush, which is
   * the point. After a crash before this resolves, a later entry can only
   * be durable with the earlier ones: renames reach a metadata journal in
   * the order they ran.
   */
  async putAll(entries: readonly RemoteEntry[]): Promise<void> {
    assertRemoteEntries(entries);
    this.assertOpen();
    const staged = entries.map(([name, bytes]) => {
      const target = this.pathOf(name);
      const dir = dirname(target);
      // A copy: the caller may change its array while we write.
      return { name, target, dir, value: copyBytes(bytes), temp: join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`) };
    });
    let failed = staged[0]?.name ?? "";
    try {
      const created = await Promise.all(staged.map((s) => fs.promises.mkdir(s.dir, { recursive: true })));
      await Promise.all(staged.map((s) => writeTempFile(s.temp, s.value, { durable: this.options.fsync })));
      for (const s of staged) {
        failed = s.name;
        await this.renameIntoPlace(s.temp, s.target);
      }
      if (this.options.fsync) {
        const dirs = new Map<string, string | undefined>();
        staged.forEach((s, i) => dirs.set(s.dir, created[i] ?? dirs.get(s.dir)));
        await Promise.all([...dirs].map(([dir, made]) => this.syncDirectories(dir, made)));
      }
    } catch (err) {
      await Promise.all(staged.map((s) => fs.promises.rm(s.temp, { force: true }).catch(() => undefined)));
      throw await this.failure(`cannot store ${failed} at ${this.pathOf(failed)}`, err, failed);
    }
  }

  /**
   * Writes the chunks to a temp file as they come (a chunk in memory at a
   * time), flushes it, runs `beforePublish`, then renames it into place
   * as `putAll` does; on any failure the temp file is removed and nothing
   * is stored.
   */
  async putStream(name: string, chunks: AsyncIterable<Uint8Array>, beforePublish?: () => void | Promise<void>): Promise<void> {
    assertRemoteName(name);
    this.assertOpen();
    const target = this.pathOf(name);
    const dir = dirname(target);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    // The stream's and the check's own errors go to the caller as they are; the disk's are STORAGE_FAILED.
    const disk = async <T>(op: () => Promise<T>): Promise<T> => {
      try {
        return await op();
      } catch (err) {
        throw await this.failure(`cannot store ${name} at ${target}`, err, name);
      }
    };
    try {
      const made = await disk(() => fs.promises.mkdir(dir, { recursive: true }));
      const handle = await disk(() => fs.promises.open(temp, "wx", 0o666));
      try {
        // Pieces (a socket's are ~64 KiB) go down together, one write per
        // STREAM_WRITE_BYTES: one thread-pool hop each, not one per piece.
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async (): Promise<void> => {
          const pieces = pending;
          pending = [];
          pendingBytes = 0;
          await disk(() => writeAllv(handle, pieces));
        };
        for await (const chunk of chunks) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= STREAM_WRITE_BYTES) await flush();
        }
        if (pendingBytes > 0) await flush();
        if (this.options.fsync) await disk(() => handle.sync());
      } finally {
        await handle.close().catch(() => undefined);
      }
      await beforePublish?.();
      await disk(() => this.renameIntoPlace(temp, target));
      if (this.options.fsync) await disk(() => this.syncDirectories(dir, made));
    } catch (err) {
      await fs.promises.rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    assertRemoteName(name);
    this.assertOpen();
    const path = this.pathOf(name);
    try {
      const buffer = await fs.promises.readFile(path);
      // A plain Uint8Array, not a Buffer (whose slice() shares memory), and
      // never a view into Node's shared pool (small reads may land there).
      if (buffer.byteLength !== buffer.buffer.byteLength) return copyBytes(buffer);
      return new Uint8Array(buffer.buffer, 0, buffer.byteLength);
    } catch (err) {
      // Missing, or a directory of longer names: no value under this name.
      if (errno(err) === "ENOENT" || errno(err) === "EISDIR" || (errno(err) === "ENOTDIR" && this.rootIsDirectory())) return undefined;
      throw storageFailed(`cannot read ${name} from ${path}`, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    assertRemotePrefix(prefix);
    this.assertOpen();
    const cut = prefix.lastIndexOf("/") + 1;
    const segments = cut === 0 ? [] : prefix.slice(0, cut - 1).split("/");
    if (segments.includes("")) return []; // "/a", "a//": no name starts like that
    const out: string[] = [];
    try {
      await this.walk(join(this.root, ...segments), prefix.slice(0, cut), prefix.slice(cut), out);
    } catch (err) {
      throw storageFailed(`cannot list ${JSON.stringify(prefix)} in the remote directory ${this.root}`, err);
    }
    return out.sort();
  }

  async delete(name: string): Promise<void> {
    assertRemoteName(name);
    this.assertOpen();
    const path = this.pathOf(name);
    try {
      await fs.promises.unlink(path);
      if (this.options.fsync) await syncDirectory(dirname(path));
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT" || code === "EISDIR" || ((code === "ENOTDIR" || code === "EPERM") && this.rootIsDirectory() && !isFile(path))) return;
      throw storageFailed(`cannot delete ${name} at ${path}`, err);
    }
  }

  watch(prefix: string, onChange: RemoteChangeListener): () => void {
    assertRemotePrefix(prefix);
    if (typeof onChange !== "function") throw new TypeError("watch listener must be a function");
    this.assertOpen();
    const cut = prefix.lastIndexOf("/") + 1;
    const dir = join(this.root, ...prefix.slice(0, cut).split("/").filter(Boolean));
    const watch = new DirectoryWatch(dir, prefix.slice(cut), onChange, this.options);
    this.watches.add(watch);
    return () => {
      watch.stop();
      this.watches.delete(watch);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const watch of this.watches) watch.stop();
    this.watches.clear();
  }

  private pathOf(name: string): string {
    return join(this.root, ...name.split("/"));
  }

  /** Renames; an empty directory left where a deleted `name/…` lived gives way. */
  private async renameIntoPlace(temp: string, target: string): Promise<void> {
    try {
      await fs.promises.rename(temp, target);
    } catch (err) {
      if (errno(err) !== "EISDIR") throw err;
      await fs.promises.rmdir(target); // ENOTEMPTY: longer names live there (a conflict)
      await fs.promises.rename(temp, target);
    }
  }

  /** Makes the new entry durable, and every directory `mkdir` created for it. */
  private async syncDirectories(dir: string, created: string | undefined): Promise<void> {
    await syncDirectory(dir);
    if (created === undefined) return;
    for (let d = dir; d !== dirname(created); d = dirname(d)) await syncDirectory(dirname(d));
  }

  /** Collects names below `dir` (whose names start with `base`) whose next segment starts with `filter`. */
  private async walk(dir: string, base: string, filter: string, out: string[]): Promise<void> {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      // A missing directory holds no names; so does a file standing where a
      // directory of the prefix would be. The root itself failing is an error.
      if (errno(err) === "ENOENT" || (errno(err) === "ENOTDIR" && dir !== this.root && this.rootIsDirectory())) return;
      throw err;
    }
    await Promise.all(
      entries.map(async (entry) => {
        const path = join(dir, entry.name);
        if (entry.name.startsWith(TEMP_PREFIX)) return reapTemp(path);
        if (!entry.name.startsWith(filter) || !NAME_SEGMENT.test(entry.name)) return;
        if (entry.isFile()) out.push(base + entry.name);
        else if (entry.isDirectory()) await this.walk(path, `${base}${entry.name}/`, "", out);
      }),
    );
  }

  /** Classifies a failed put: a name colliding with a directory of longer names, or storage trouble. */
  private async failure(what: string, err: unknown, name: string): Promise<HearthError> {
    const code = errno(err);
    if ((code === "ENOTDIR" || code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") && this.rootIsDirectory()) {
      return new HearthError(
        "INVALID_ARGUMENT",
        `remote name ${JSON.stringify(name)} cannot be stored in ${this.root}: the file remote keeps each "/" segment as a directory, so one name cannot also begin another ("a" and "a/b"); rename one of them`,
        { cause: err },
      );
    }
    return storageFailed(what, err);
  }

  private rootIsDirectory(): boolean {
    try {
      return fs.statSync(this.root).isDirectory();
    } catch {
      return false;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new HearthError("STORE_CLOSED", `remote ${this.url} is closed; open it again to use it`);
  }
}

function isFile(path: string): boolean {
  try {
    return fs.statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Removes a temp file left by a writer that died mid-put (never one still being written). */
async function reapTemp(path: string): Promise<void> {
  try {
    const stats = await fs.promises.stat(path);
    if (Date.now() - stats.mtimeMs > STALE_TEMP_MS) await fs.promises.unlink(path);
  } catch {
    // Renamed or reaped by its owner or another lister meanwhile.
  }
}

/** Writes every byte of `pieces` at the handle's position, in order (`writev` may write less than asked). */
async function writeAllv(handle: fs.promises.FileHandle, pieces: Uint8Array[]): Promise<void> {
  let rest = pieces;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    const next: Uint8Array[] = [];
    for (const piece of rest) {
      if (bytesWritten >= piece.length) bytesWritten -= piece.length;
      else {
        next.push(bytesWritten === 0 ? piece : piece.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    rest = next;
  }
}
