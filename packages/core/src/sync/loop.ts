/**
 * The sync loop of one attachment: when cycles run, what state the
 * attachment is in, how failures back off, and who waits for a cycle that
 * ends in sync.
 *
 * The states and what moves between them, in one place ({@link nextState}):
 *
 * ```
 * connecting ──cycle ok──▶ idle / syncing ◀──cycle ok──┐
 *     │                        │                       │
 *     └──────cycle failed──────┴──▶ offline (remote failing: retried with backoff)
 *                                   error   (retrying alone will not fix it; see the error)
 * ```
 *
 * A cycle is requested by local commits, remote notifications, the poll
 * timer and `synced()`; requests while a cycle runs coalesce into one more
 * cycle. After a failure the next cycle waits for a capped, jittered
 * exponential backoff.
 *
 * @module
 */
import { HearthError, isHearthError } from "../errors.js";
import type { SyncLogger } from "./logger.js";
import type { SyncError, SyncState } from "./status.js";

/** Backoff after failures: first delay and cap (ms). */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;

/** What happens to the loop. */
export type LoopEvent =
  | { readonly type: "cycle-started" }
  | { readonly type: "cycle-ended"; readonly inSync: boolean }
  | { readonly type: "cycle-failed"; readonly error: HearthError };

/** Codes that retrying with backoff may fix by itself (the remote or the network is failing). */
const TRANSIENT = new Set(["STORAGE_FAILED", "TIMEOUT"]);

/** The state after `event` (see the module docs). */
export function nextState(state: SyncState, event: LoopEvent): SyncState {
  switch (event.type) {
    case "cycle-started":
      return state === "connecting" ? "connecting" : "syncing";
    case "cycle-ended":
      return event.inSync ? "idle" : "syncing";
    case "cycle-failed":
      return TRANSIENT.has(event.error.code) ? "offline" : "error";
  }
}

interface Waiter {
  readonly afterCycle: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** What the loop runs and reports to. */
export interface LoopDeps {
  /** One cycle; resolves true when local and remote then hold the same heads. */
  cycle(): Promise<boolean>;
  /** The state changed (or progress did): report the status. */
  onStatus(): void;
  /** A failed cycle, before the backoff. */
  onFailure(error: HearthError): void;
  readonly logger: SyncLogger;
  /** Names the remote in messages. */
  readonly url: string;
}

/** See the module docs. */
export class SyncLoop {
  readonly #deps: LoopDeps;
  #state: SyncState = "connecting";
  #error: SyncError | undefined;
  /** The error is a failed cycle's (over once a cycle succeeds), not an item's (see {@link noteError}). */
  #errorOfCycle = false;
  #lastSyncAt: number | undefined;
  #requested = false;
  #running: Promise<void> | undefined;
  #cycles = 0;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];
  #stopped = false;

  constructor(deps: LoopDeps) {
    this.#deps = deps;
  }

  get state(): SyncState {
    return this.#state;
  }

  /** The most recent failure (kept while it may still apply: see {@link clearError}). */
  get error(): SyncError | undefined {
    return this.#error;
  }

  get lastSyncAt(): number | undefined {
    return this.#lastSyncAt;
  }

  /** True while backing off after a failure. */
  get backingOff(): boolean {
    return this.#retryTimer !== undefined;
  }

  /** Records a failure of one item (not of the cycle) to show in the status. */
  noteError(error: HearthError): void {
    this.#error = { code: error.code, message: error.message };
    this.#errorOfCycle = false;
  }

  /** Asks for a cycle (now, or after the running one, or after the backoff). */
  kick(): void {
    if (this.#stopped) return;
    this.#requested = true;
    // While backing off after a failure, the retry timer runs the next cycle.
    if (this.#retryTimer !== undefined) return;
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      if (this.#requested && this.#retryTimer === undefined) this.kick();
    });
  }

  /**
   * Resolves once a cycle that started after this call ended in sync.
   * @throws HearthError `TIMEOUT` after `timeoutMs` (the message says `describe()`); `STORE_CLOSED` if stopped first;
   *   `FORBIDDEN` or `REMOVED` as soon as a cycle shows this device may not push what it has
   */
  waitForSync(timeoutMs: number, describe: () => string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new HearthError("TIMEOUT", `not in sync with ${this.#deps.url} after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      const waiter: Waiter = {
        afterCycle: this.#cycles,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
      this.kick();
    });
  }

  /** Stops: no more cycles; the running one (if any) is awaited; waiters are rejected. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running?.catch(() => undefined);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new HearthError("STORE_CLOSED", `detached from ${this.#deps.url} before it was in sync`));
    }
  }

  async #run(): Promise<void> {
    while (this.#requested && !this.#stopped) {
      this.#requested = false;
      const cycle = ++this.#cycles;
      this.#move({ type: "cycle-started" });
      let inSync: boolean;
      try {
        inSync = await this.#deps.cycle();
      } catch (err) {
        if (this.#stopped) return;
        this.#fail(err, cycle);
        return;
      }
      this.#failures = 0;
      // A failure of the remote or of this device's rights is over once a cycle succeeds;
      // withholding once a cycle ends in sync; a rejected item's error stays (it was never merged).
      const code = this.#error?.code;
      if (code !== undefined && (this.#errorOfCycle || (!STICKY.has(code) && (inSync || !UNTIL_IN_SYNC.has(code))))) this.#error = undefined;
      if (inSync) this.#lastSyncAt = Date.now();
      this.#move({ type: "cycle-ended", inSync });
      if (inSync) this.#settleWaiters(cycle);
    }
  }

  #fail(err: unknown, cycle: number): void {
    const error = isHearthError(err) ? err : new HearthError("STORAGE_FAILED", `sync with ${this.#deps.url} failed unexpectedly: ${String(err)}`, { cause: err });
    this.#error = { code: error.code, message: error.message };
    this.#errorOfCycle = true;
    this.#deps.onFailure(error);
    this.#move({ type: "cycle-failed", error });
    if (error.code === "STORE_CLOSED") return; // the ledger closed under us: nothing more to do
    if (WAIT_FOR_CHANGE.has(error.code)) {
      // This device's rights: retrying will not change them, and waiting for sync would only
      // run out its deadline. Waiters learn why now; the next request runs a cycle as usual.
      const done = this.#waiters.filter((w) => w.afterCycle < cycle);
      this.#waiters = this.#waiters.filter((w) => w.afterCycle >= cycle);
      for (const waiter of done) waiter.reject(error);
      return;
    }
    this.#failures++;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failures - 1)) * (0.5 + Math.random() / 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.kick();
    }, delay);
    (this.#retryTimer as { unref?: () => void }).unref?.();
  }

  #move(event: LoopEvent): void {
    const next = nextState(this.#state, event);
    if (next !== this.#state) this.#deps.logger("state", { from: this.#state, to: next, ...(event.type === "cycle-failed" && { code: event.error.code }) });
    this.#state = next;
    this.#deps.onStatus();
  }

  #settleWaiters(cycle: number): void {
    const ready = this.#waiters.filter((w) => w.afterCycle < cycle);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.afterCycle >= cycle);
    for (const waiter of ready) waiter.resolve();
  }
}

/**
 * Failures that only a change elsewhere can end (this device's role, a sync
 * point's size limit or quota): no backoff timer, so a write too large for the remote
 * is not uploaded again every few seconds.
 */
const WAIT_FOR_CHANGE = new Set(["FORBIDDEN", "REMOVED", "TOO_LARGE", "QUOTA_EXCEEDED"]);

/** Errors of items rejected for good: they stay in the status after later cycles succeed. */
const STICKY = new Set(["INTEGRITY", "KEY_REQUIRED", "FORBIDDEN"]);

/** Errors that stay until a cycle ends in sync (what was withheld arrived, or was pushed again). */
const UNTIL_IN_SYNC = new Set(["WITHHELD"]);
