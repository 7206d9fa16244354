/**
 * A remote that misbehaves on purpose, for property tests of the sync
 * engine: wrap any {@link Remote} and, driven by a seeded PRNG (so a failing
 * run replays from its seed), fail, delay, duplicate and reorder what passes
 * through, the way networks and object stores really do. The one fault the
 * engine most needs to survive is a write that **happened although the
 * caller saw it fail** (a lost acknowledgement); `failRate` injects it half
 * the time by default. {@link FaultyRemote.heal} switches every fault off so
 * the test can then check that replicas converge. Browser-safe.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { assertRemoteEntries, assertRemoteName, assertRemotePrefix, type Remote, type RemoteChangeListener, type RemoteEntry } from "../remote/types.js";
import { rng } from "./rng.js";

/** Which faults to inject, and how often (every rate is a probability per operation, default 0). */
export interface FaultyRemoteOptions {
  /** Seeds the PRNG: the same seed makes the same choices for the same sequence of calls. */
  readonly seed: number;
  /** An operation rejects `STORAGE_FAILED`. */
  readonly failRate?: number;
  /** Share of those failures that come after the operation was performed (default 0.5). */
  readonly failAfterShare?: number;
  /** An operation waits a random number of macrotask turns before and after it runs. */
  readonly delayRate?: number;
  /** Most turns one delay lasts (default 8). */
  readonly maxDelayTurns?: number;
  /**
   * A put is performed once more, a few turns after the caller got its
   * answer — even a failure — as a retried or stalled request arriving late.
   */
  readonly duplicateRate?: number;
  /** `list` answers in random order. */
  readonly shuffleLists?: boolean;
  /** `list` leaves out a name first seen less than `recentMs` ago (an eventually consistent listing). */
  readonly omitRecentRate?: number;
  /** How long a name counts as recent (ms, default 50). */
  readonly recentMs?: number;
  /** A notification is lost and the watch stays silent until {@link FaultyRemote.heal}. */
  readonly dropWatchRate?: number;
  /** A notification arrives without its changes (as after a reconnect), so the listener must list. */
  readonly namelessWatchRate?: number;
}

/** How many faults of each kind were injected. */
export interface FaultStats {
  failedBefore: number;
  failedAfter: number;
  delayed: number;
  duplicated: number;
  shuffled: number;
  omitted: number;
  watchDropped: number;
  watchNameless: number;
  offline: number;
}

/** A {@link Remote} with its fault controls. */
export interface FaultyRemote extends Remote {
  /** Counts of injected faults, to prove a test exercised what it meant to. */
  readonly stats: Readonly<FaultStats>;
  /** While true, every operation rejects `STORAGE_FAILED` and no notification is delivered. */
  setOffline(offline: boolean): void;
  /**
   * Turns every fault off (and the remote back online). Notifications lost
   * before are not replayed: an engine must recover from lost pushes itself.
   */
  heal(): void;
  /** Resolves once late duplicate puts already scheduled have landed. */
  settled(): Promise<void>;
}


const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Wraps `inner` with the faults `options` asks for. Closing the wrapper
 * closes `inner`.
 *
 * @example
 * ```ts
 * const remote = faultyRemote(await openMemoryRemote("memory://p"), { seed: 7, failRate: 0.2, delayRate: 0.5 });
 * // … sync through it …
 * remote.heal();
 * ```
 */
export function faultyRemote(inner: Remote, options: FaultyRemoteOptions): FaultyRemote {
  if (typeof options?.seed !== "number") throw new TypeError("faultyRemote needs options.seed (a number)");
  const random = rng(options.seed);
  const chance = (rate: number | undefined): boolean => (rate ?? 0) > 0 && random() < (rate as number);
  const stats: FaultStats = { failedBefore: 0, failedAfter: 0, delayed: 0, duplicated: 0, shuffled: 0, omitted: 0, watchDropped: 0, watchNameless: 0, offline: 0 };
  let healed = false;
  let offline = false;
  let watchDead = false;
  let closed = false;
  const firstSeen = new Map<string, number>();
  const late = new Set<Promise<void>>();
  const active = (rate: number | undefined): boolean => !healed && !closed && chance(rate);

  const fail = (when: "before" | "after", op: string): HearthError => {
    stats[when === "before" ? "failedBefore" : "failedAfter"]++;
    return new HearthError("STORAGE_FAILED", `injected fault: ${op} failed ${when} running (faultyRemote over ${inner.url}); retry`);
  };
  const delay = async (): Promise<void> => {
    if (!active(options.delayRate)) return;
    stats.delayed++;
    const turns = Math.floor(random() * ((options.maxDelayTurns ?? 8) + 1));
    for (let i = 0; i < turns; i++) await turn();
  };
  const putLate = (name: string, bytes: Uint8Array): void => {
    stats.duplicated++;
    const again = (async () => {
      for (let i = Math.floor(random() * ((options.maxDelayTurns ?? 8) + 1)); i > 0; i--) await turn();
      await inner.put(name, bytes).catch(() => undefined);
    })();
    late.add(again);
    void again.finally(() => late.delete(again));
  };
  /** Runs `op` through the faults every operation shares. */
  const run = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    if (closed) throw new HearthError("STORE_CLOSED", `faultyRemote over ${inner.url} is closed`);
    if (offline) {
      stats.offline++;
      throw new HearthError("STORAGE_FAILED", `injected fault: ${inner.url} is offline; retry later`);
    }
    await delay();
    const failing = active(options.failRate);
    const after = failing && random() < (options.failAfterShare ?? 0.5);
    if (failing && !after) throw fail("before", what);
    const result = await op();
    await delay();
    if (after) throw fail("after", what);
    return result;
  };

  const faulty: FaultyRemote = {
    url: inner.url,
    supports: inner.supports,
    stats,
    async put(name, bytes) {
      assertRemoteName(name);
      // Copied now: the put may run turns later, and the caller owns its array.
      const copy = bytes instanceof Uint8Array ? bytes.slice() : bytes;
      try {
        await run(`put ${name}`, () => inner.put(name, copy));
      } finally {
        // Whatever the caller was told (even a failure), the request may arrive again later.
        if (copy instanceof Uint8Array && !offline && active(options.duplicateRate)) putLate(name, copy);
      }
    },
    async get(name) {
      assertRemoteName(name);
      return run(`get ${name}`, () => inner.get(name));
    },
    ...(inner.putAll && {
      async putAll(entries: readonly RemoteEntry[]) {
        assertRemoteEntries(entries);
        const copies = entries.map(([name, bytes]) => [name, bytes instanceof Uint8Array ? bytes.slice() : bytes] as const);
        await run(`putAll ${entries.length}`, async () => {
          // Sometimes only a prefix arrives before the failure (a batch cut short).
          const cut = copies.length > 1 && active(options.failRate) ? 1 + Math.floor(random() * (copies.length - 1)) : copies.length;
          await inner.putAll!(copies.slice(0, cut));
          if (cut < copies.length) throw fail("after", `putAll (stored ${cut} of ${copies.length})`);
        });
      },
    }),
    async list(prefix) {
      assertRemotePrefix(prefix);
      let names = await run(`list ${prefix}`, () => inner.list(prefix));
      if (healed || closed) return names;
      const now = Date.now();
      if ((options.omitRecentRate ?? 0) > 0) {
        names = names.filter((n) => {
          const seen = firstSeen.get(n) ?? now;
          firstSeen.set(n, seen);
          const omit = now - seen < (options.recentMs ?? 50) && chance(options.omitRecentRate);
          if (omit) stats.omitted++;
          return !omit;
        });
      }
      if (options.shuffleLists && names.length > 1) {
        stats.shuffled++;
        for (let i = names.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [names[i], names[j]] = [names[j] as string, names[i] as string];
        }
      }
      return names;
    },
    async delete(name) {
      assertRemoteName(name);
      return run(`delete ${name}`, () => inner.delete(name));
    },
    async close() {
      closed = true;
      await Promise.all(late);
      await inner.close();
    },
    setOffline(value) {
      offline = value;
    },
    heal() {
      healed = true;
      offline = false;
      watchDead = false;
    },
    async settled() {
      while (late.size > 0) await Promise.all(late);
    },
  };
  if (inner.watch) {
    const watch = inner.watch.bind(inner);
    faulty.watch = (prefix: string, onChange: RemoteChangeListener) =>
      watch(prefix, (changes) => {
        if (offline || watchDead) return;
        if (active(options.dropWatchRate)) {
          stats.watchDropped++;
          watchDead = true;
          return;
        }
        if (changes && active(options.namelessWatchRate)) {
          stats.watchNameless++;
          onChange();
          return;
        }
        onChange(changes);
      });
  }
  return faulty;
}
