/**
 * What a sync engine needs from the ledger it serves, and nothing more.
 * The ledger builds one port per attachment over its private state, so the
 * engine never reaches into the ledger and the ledger's public API does not
 * grow replication internals.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import type { Compression } from "../crypto/compression.js";
import type { AeadCipher } from "../crypto/cipher.js";
import type { Keyring } from "../keyring/types.js";
import type { Signer } from "../crypto/signing.js";
import type { EventBlock } from "../crdt/event.js";
import type { HearthError } from "../errors.js";
import type { IngestResult } from "../ledger/types.js";
import type { LedgerFiles } from "../files/ledger-files.js";

/** An event the ledger refused at ingest, with why (`INTEGRITY`). */
export type RefusedEvent = EventBlock & { readonly error: HearthError };

/** One event from the ledger's local log. */
export interface LoggedEvent {
  /** Local position: events are numbered 1, 2, … in the order this replica applied them. */
  readonly position: number;
  readonly cid: CID;
  readonly bytes: Uint8Array;
}

/** See the module docs. */
export interface ReplicaPort {
  /** The ledger's name (messages only). */
  readonly name: string;
  /** The device keyring the ledger was opened with. */
  readonly keyring: Keyring;
  readonly cipher?: AeadCipher;
  readonly compression?: Compression;
  /** Signs and verifies (membership entries, write statements). */
  readonly signer: Signer;
  /** Current heads. Read together with {@link eventCount} in one synchronous step, they describe one state. */
  heads(): CID[];
  /** Number of events applied: positions `1..eventCount()` exist in the log. */
  eventCount(): number;
  /** Events at positions `from, from + 1, …`, at most `limit` of them. */
  eventsFrom(from: number, limit: number): Promise<LoggedEvent[]>;
  /** True if the event has been applied. */
  hasEvent(cid: CID): Promise<boolean>;
  /** The encoded event `cid`, if it has been applied here (the relay carries others' events on). */
  eventBytes(cid: CID): Promise<Uint8Array | undefined>;
  /**
   * Persists and applies event blocks the engine has already verified
   * (`readEventBytes`), as `Ledger.ingest` does after verifying them itself.
   * Events whose CID (text) is in `inert` apply inert: in the history, with
   * no effect on documents (see `LedgerState.apply`).
   */
  ingest(events: readonly EventBlock[], inert?: ReadonlySet<string>): Promise<IngestResult & { refusedEvents: readonly RefusedEvent[] }>;
  /**
   * Makes every applied event by `author` (16-byte fingerprint) that is not
   * among the ancestors of `heads` (nor one of them) inert, taking back its
   * effect on documents. Returns how many were made inert, or `undefined`
   * while some of `heads` are not applied here yet.
   */
  whiteoutOutside(author: Uint8Array, heads: readonly CID[]): Promise<number | undefined>;
  /** The ledger's files: blocks to push, files to fetch, and where lazy reads fetch from. */
  readonly files: LedgerFiles;
  /** True if every event of `targets` is one of `heads` or an ancestor of one (all of them here). */
  covers(heads: readonly CID[], targets: readonly CID[]): Promise<boolean>;
  /**
   * Those of `roots` (manifest CIDs, text) some version of some document
   * here refers to. The first question about a file reads the documents;
   * later ones read the events since (see `ledger/file-liveness.ts`).
   */
  liveFiles(roots: Iterable<string>): Promise<Set<string>>;
  /** Calls `fn` after every local commit or merge; returns a function that stops it. */
  onApplied(fn: () => void): () => void;
  /** Small per-attachment bookkeeping kept in the ledger's own (encrypted) store. */
  readonly meta: {
    get(key: string): Promise<Uint8Array | undefined>;
    list(prefix: string): Promise<string[]>;
    write(put: ReadonlyArray<readonly [string, Uint8Array]>, del?: readonly string[]): Promise<void>;
  };
}
