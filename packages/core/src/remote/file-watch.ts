/**
 * Change detection for the file remote: `fs.watch` for speed, polling for
 * certainty. `fs.watch` tells within milliseconds that another process
 * renamed a file into the watched directory, but it can drop events
 * (overflowing inotify queues, network file systems, a watched directory
 * deleted and recreated) and it does not see deeper subdirectories. So each
 * watch also keeps a snapshot of every name under its prefix with the
 * file's identity (inode, size, times) and compares a fresh one every
 * `pollMs`: a lost event can delay a notification, never lose it.
 *
 * An `fs.watch` event that names an entry of the watched directory updates
 * that one entry of the snapshot (one `stat`), not the whole snapshot: a
 * directory of many names (a file's blocks) that fills up one name at a
 * time would otherwise be rescanned, every file `stat`ed, once per name,
 * which made a 1 GiB upload quadratic. Full scans run on the poll only.
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { join } from "node:path";

/**
 * One segment of a remote name as found in a directory. Anything else there
 * (the remote's own `~tmp-…` files, stray files) is not a name.
 */
export const NAME_SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

/** Name (relative to the watched prefix's directory) → the file's identity. */
type Snapshot = Map<string, string>;

function identity(stats: fs.BigIntStats): string {
  // A put renames a fresh file into place, so the inode changes; times and
  // size catch the rare inode reuse.
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

/**
 * Synchronous scan, used once when a watch starts: the baseline must exist
 * before `watch` returns, or a change made right after could be folded into
 * it and never reported. Unreadable or missing directories count as empty.
 */
function scanSync(dir: string, filter: string, rel: string, out: Snapshot): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.name.startsWith(filter) || !NAME_SEGMENT.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) scanSync(path, "", `${rel}${entry.name}/`, out);
    else if (entry.isFile()) {
      try {
        out.set(rel + entry.name, identity(fs.statSync(path, { bigint: true })));
      } catch {
        // Deleted between readdir and stat: it is gone, as the snapshot says.
      }
    }
  }
}

/** The same scan without blocking the event loop, for every later comparison. */
async function scan(dir: string, filter: string, rel: string, out: Snapshot): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  await Promise.all(
    entries.map(async (entry) => {
      if (!entry.name.startsWith(filter) || !NAME_SEGMENT.test(entry.name)) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await scan(path, "", `${rel}${entry.name}/`, out);
      else if (entry.isFile()) {
        const stats = await fs.promises.stat(path, { bigint: true }).catch(() => undefined);
        if (stats) out.set(rel + entry.name, identity(stats));
      }
    }),
  );
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [name, id] of a) if (b.get(name) !== id) return false;
  return true;
}

/** How one {@link DirectoryWatch} runs. */
export interface DirectoryWatchOptions {
  /** Compare snapshots this often (ms). */
  readonly pollMs: number;
  /** Use `fs.watch` for prompt notice; false leaves polling alone (tests, odd file systems). */
  readonly useFsWatch: boolean;
}

/**
 * Watches the names under one prefix: `dir` is the directory holding the
 * prefix's last segment, `filter` the part of that segment typed so far.
 * Calls `onChange` (in a microtask, never re-entrantly) after a scan shows a
 * difference, and after every relevant `fs.watch` event.
 */
export class DirectoryWatch {
  private snapshot: Snapshot = new Map();
  private watcher: fs.FSWatcher | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private scanning = false;
  private again = false;
  private forced = false;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly filter: string,
    private readonly onChange: () => void,
    private readonly options: DirectoryWatchOptions,
  ) {
    // fs.watch first, snapshot second: a change between the two is both in
    // the snapshot and reported by an event, never in neither.
    if (options.useFsWatch) this.startFsWatch();
    scanSync(dir, filter, "", this.snapshot);
    this.schedulePoll();
  }

  /** Stops watching; no call is made after this returns. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private startFsWatch(): void {
    try {
      // The directory must exist to be watched; creating it is harmless.
      fs.mkdirSync(this.dir, { recursive: true });
      const watcher = fs.watch(this.dir, { persistent: true }, (_event, filename) => {
        // Temp files and names outside the prefix are noise; no filename
        // (some platforms) may be anything.
        if (typeof filename === "string" && (!filename.startsWith(this.filter) || !NAME_SEGMENT.test(filename))) return;
        if (typeof filename === "string") void this.checkOne(filename);
        else this.kick(true);
      });
      watcher.on("error", () => {
        // The directory went away or the platform gave up: polling carries on alone.
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
        this.kick(true);
      });
      this.watcher = watcher;
    } catch {
      // No fs.watch here (unsupported, out of inotify watches, unwritable parent): poll alone.
    }
  }

  /**
   * Brings the snapshot's entry for `name` (directly in the watched
   * directory) up to date and reports a change; a directory there (names
   * below it) takes a full rescan instead.
   */
  private async checkOne(name: string): Promise<void> {
    if (this.stopped) return;
    const stats = await fs.promises.stat(join(this.dir, name), { bigint: true }).catch(() => undefined);
    if (this.stopped) return;
    if (stats?.isDirectory()) {
      this.kick(true);
      return;
    }
    const now = stats?.isFile() ? identity(stats) : undefined;
    if (this.snapshot.get(name) === now) return;
    if (now === undefined) this.snapshot.delete(name);
    else this.snapshot.set(name, now);
    queueMicrotask(() => {
      if (!this.stopped) this.onChange();
    });
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick(false);
      this.schedulePoll();
    }, this.options.pollMs);
  }

  /** Rescans (once at a time, coalescing requests); `force` reports even an unchanged scan. */
  private kick(force: boolean): void {
    if (this.stopped) return;
    if (force) this.forced = true;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = true;
    void this.scanLoop();
  }

  private async scanLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        const forced = this.forced;
        this.forced = false;
        const next: Snapshot = new Map();
        await scan(this.dir, this.filter, "", next);
        if (this.stopped) return;
        const changed = !sameSnapshot(this.snapshot, next);
        // The new baseline is taken before the listener runs, so whatever
        // the listener then lists is at least this new; anything later
        // differs from it at the next scan.
        this.snapshot = next;
        if (changed || forced) {
          queueMicrotask(() => {
            if (!this.stopped) this.onChange();
          });
        }
      } while (this.again && !this.stopped);
    } finally {
      this.scanning = false;
    }
  }
}
