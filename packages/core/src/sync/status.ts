/**
 * The observable face of an attachment: its status and typed events.
 *
 * @module
 */
import type { HearthErrorCode } from "../errors.js";
import type { Role } from "../trust/entry.js";
import type { FileProgress } from "./file-transfer.js";

/**
 * Where an attachment is:
 * - `connecting`: first key lookup and first sync not finished yet;
 * - `syncing`: pushing or pulling;
 * - `idle`: caught up as of the last check;
 * - `offline`: the remote is failing; retrying with backoff, writes wait in the outbox;
 * - `error`: a failure that retrying will not fix by itself (see `error`): this
 *   device may not write here (`FORBIDDEN`) or was removed (`REMOVED`), …
 */
export type SyncState = "connecting" | "syncing" | "idle" | "offline" | "error";

/** A failure as reported in {@link SyncStatus}. */
export interface SyncError {
  readonly code: HearthErrorCode;
  readonly message: string;
}

/** A snapshot of an attachment's progress. */
export interface SyncStatus {
  readonly state: SyncState;
  /** Local events not yet stored at the remote (the outbox). */
  readonly pending: number;
  /** Remote heads this replica has not merged yet, and fetched writes waiting for parents or membership entries it lacks (0 when caught up). */
  readonly behind: number;
  /** When local and remote last held the same heads (ms since epoch). */
  readonly lastSyncAt?: number;
  /** The most recent failure; stays until a later sync succeeds (or, for rejected data, for good). */
  readonly error?: SyncError;
  /** Remote items rejected as tampered, truncated, foreign, unreadable or not allowed (writes of non-writers); never merged. */
  readonly rejected: number;
  /** This device's role at the sync point, `"removed"` once removed (`undefined` while connecting). */
  readonly role?: Role | "removed";
  /** File bytes still to upload and to download (see the `progress` event). */
  readonly files: { readonly toPush: number; readonly toFetch: number };
}

/** What a `change` event reports: remote events merged into the ledger. */
export interface SyncChange {
  /** Events applied by this merge. */
  readonly applied: number;
}

/** The attachment's events and their payloads. */
export interface AttachmentEvents {
  readonly status: SyncStatus;
  readonly change: SyncChange;
  /** File bytes moved or still to move (fires as blocks move). */
  readonly progress: FileProgress;
}

/** A minimal typed event emitter: listeners are isolated (one throwing does not stop the others). */
export class Emitter<Events> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void {
    if (typeof fn !== "function") throw new TypeError(`on(${String(event)}): the listener must be a function`);
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn as (payload: never) => void);
    return () => void set.delete(fn as (payload: never) => void);
  }

  /** Calls every listener of `event`; a listener that throws is reported, not propagated. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (fn as (payload: Events[K]) => void)(payload);
      } catch (err) {
        console.error(`hearth: a "${String(event)}" listener threw`, err);
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
