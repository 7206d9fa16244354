/**
 * The in-process remote (`memory://<name>`): a sync point that lives in one
 * process's memory, so tests (and two ledgers in one page) can sync with no
 * disk and no network. Every remote opened with the same URL in a process
 * shares one map, as two clients of a real server share its storage; each
 * `open` returns its own handle, so closing one client leaves the others
 * (and the data) alone. The data lives until {@link dropMemoryRemote} or
 * the end of the process.
 *
 * Browser-safe: no Node built-ins.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { copyBytes, SortedKeys } from "../store/memory.js";
import { parseLocation } from "../url.js";
import { assertRemoteEntries, assertRemoteName, assertRemotePrefix, type Remote, type RemoteChange, type RemoteChangeListener, type RemoteEntry } from "./types.js";

/** One watcher registered through some handle. */
interface Watcher {
  readonly prefix: string;
  readonly fn: RemoteChangeListener;
  /** Changes waiting for the queued call (undefined: no call queued); later changes ride on it. */
  queued: RemoteChange[] | undefined;
  active: boolean;
}

/** The data behind one `memory://` name, shared by every handle on it. */
interface SyncPoint {
  readonly values: Map<string, Uint8Array>;
  readonly names: SortedKeys;
  readonly watchers: Set<Watcher>;
}

/** Process-wide registry: name → shared data. */
const points = new Map<string, SyncPoint>();

function memoryName(url: string): string {
  const location = parseLocation(url, "remote");
  if (location.scheme !== "memory") {
    throw new HearthError("INVALID_URL", `${JSON.stringify(url)} is not a memory remote URL; use "memory://<name>"`);
  }
  return location.name;
}

/**
 * Opens a client of the in-process sync point named by `url`, creating it
 * empty if this process has none of that name.
 *
 * @throws HearthError `INVALID_URL` when `url` is not `memory://<name>`.
 * @example
 * ```ts
 * const a = await openMemoryRemote("memory://room");
 * const b = await openMemoryRemote("memory://room"); // sees a's writes
 * ```
 */
export async function openMemoryRemote(url: string): Promise<Remote> {
  const name = memoryName(url);
  let point = points.get(name);
  if (!point) {
    point = { values: new Map(), names: new SortedKeys(), watchers: new Set() };
    points.set(name, point);
  }
  return new MemoryRemote(url, point);
}

/**
 * Frees the data of the sync point named by `url`, so a test suite that
 * opens many uniquely named remotes does not keep them all alive. Open
 * handles see it empty; the next open starts afresh.
 */
export function dropMemoryRemote(url: string): void {
  const name = memoryName(url);
  const point = points.get(name);
  if (!point) return;
  point.values.clear();
  point.names.clear();
  points.delete(name);
}

class MemoryRemote implements Remote {
  readonly supports = { watch: true, persistent: false } as const;
  /** Watchers registered through this handle, removed on close. */
  private readonly own = new Set<Watcher>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly point: SyncPoint,
  ) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    assertRemoteName(name);
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`value for remote name ${JSON.stringify(name)} must be a Uint8Array`);
    this.assertOpen();
    this.store(name, bytes);
  }

  private store(name: string, bytes: Uint8Array): void {
    const { values, names } = this.point;
    if (!values.has(name)) names.add(name);
    const stored = copyBytes(bytes);
    values.set(name, stored);
    this.changed(name, stored);
  }

  /** Stores every entry (in order, at once: nothing runs in between). */
  async putAll(entries: readonly RemoteEntry[]): Promise<void> {
    assertRemoteEntries(entries);
    this.assertOpen();
    for (const [name, bytes] of entries) this.store(name, bytes);
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    assertRemoteName(name);
    this.assertOpen();
    const value = this.point.values.get(name);
    return value === undefined ? undefined : copyBytes(value);
  }

  async list(prefix: string): Promise<string[]> {
    assertRemotePrefix(prefix);
    this.assertOpen();
    return this.point.names.list(prefix);
  }

  async delete(name: string): Promise<void> {
    assertRemoteName(name);
    this.assertOpen();
    if (!this.point.values.delete(name)) return;
    this.point.names.remove(name);
    this.changed(name);
  }

  watch(prefix: string, onChange: RemoteChangeListener): () => void {
    assertRemotePrefix(prefix);
    if (typeof onChange !== "function") throw new TypeError("watch listener must be a function");
    this.assertOpen();
    const watcher: Watcher = { prefix, fn: onChange, queued: undefined, active: true };
    this.point.watchers.add(watcher);
    this.own.add(watcher);
    return () => this.unwatch(watcher);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of [...this.own]) this.unwatch(watcher);
  }

  private unwatch(watcher: Watcher): void {
    watcher.active = false;
    this.point.watchers.delete(watcher);
    this.own.delete(watcher);
  }

  /**
   * Queues one call per interested watcher, naming the changes (with the
   * value put; each watcher gets its own copy). Calls run in a microtask,
   * never inside the writer's call stack (a listener that writes must not
   * recurse into itself), and changes made before it runs share the one call.
   */
  private changed(name: string, bytes?: Uint8Array): void {
    for (const watcher of this.point.watchers) {
      if (!name.startsWith(watcher.prefix)) continue;
      const change: RemoteChange = bytes === undefined ? { name, op: "delete" } : { name, op: "put", bytes: copyBytes(bytes) };
      if (watcher.queued) {
        watcher.queued.push(change);
        continue;
      }
      const changes = (watcher.queued = [change]);
      queueMicrotask(() => {
        watcher.queued = undefined;
        if (watcher.active) watcher.fn(changes);
      });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new HearthError("STORE_CLOSED", `remote ${this.url} is closed; open it again to use it`);
  }
}
