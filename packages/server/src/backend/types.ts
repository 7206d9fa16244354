/**
 * What the sync server keeps, behind three small interfaces, so one server
 * runs on a directory (the embedded default) or on S3 + PostgreSQL (many
 * stateless instances behind a load balancer) without knowing which.
 *
 * The server holds no keys: objects are opaque bytes under the remote
 * names the sync engine uses (`bundle/<cid>`, `head/<cid>`, `key/…`).
 *
 * @module
 */

/** Objects of every ledger. Names are validated remote names; ledgers are validated ledger names. */
export interface ObjectBackend {
  put(ledger: string, name: string, bytes: Uint8Array): Promise<void>;
  /**
   * Optional: stores `entries` in order (no entry visible before the ones
   * before it); the batch route falls back to `put` one by one without it.
   */
  putAll?(ledger: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void>;
  /**
   * Optional: stores the bytes of `chunks` as they arrive, a chunk in memory
   * at a time; `beforePublish` runs once all are written, before the value
   * is visible, and nothing is stored if it throws. Large request bodies
   * stream through it; without it they are read whole (within the upload
   * budget) and `put`.
   */
  putStream?(ledger: string, name: string, chunks: AsyncIterable<Uint8Array>, beforePublish: () => Promise<void>): Promise<void>;
  get(ledger: string, name: string): Promise<Uint8Array | undefined>;
  /** Names under `prefix`, ascending by plain string order. */
  list(ledger: string, prefix: string): Promise<string[]>;
  delete(ledger: string, name: string): Promise<void>;
  /**
   * Optional: the bytes `ledger`'s objects take (0 for a ledger with none).
   * A server with a per-ledger quota needs it (it measures once per ledger,
   * then counts what it stores).
   */
  bytesOf?(ledger: string): Promise<number>;
  close(): Promise<void>;
}

/** Rights a token grants on its ledger. */
export type Rights = "read" | "read-write";

/** A token as stored (the secret itself is never stored, only its hash). */
export interface TokenRecord {
  readonly id: string;
  readonly ledger: string;
  readonly rights: Rights;
  readonly createdAt: number;
  /** Ms since epoch; absent = never expires. */
  readonly expiresAt?: number;
  readonly revokedAt?: number;
}

/** Per-ledger tokens. A ledger exists on the server once a token was created for it. */
export interface TokenStore {
  /** Creates a token; returns the record and the printable secret token (shown once). */
  create(options: { ledger: string; rights: Rights; expiresAt?: number }): Promise<{ record: TokenRecord; token: string }>;
  /** The record of a valid (known, unexpired, unrevoked) token, or undefined. */
  verify(token: string): Promise<TokenRecord | undefined>;
  list(ledger?: string): Promise<TokenRecord[]>;
  /** Revokes a token by id; true if it existed. */
  revoke(id: string): Promise<boolean>;
  /** True if any token (even revoked) was ever created for `ledger`. */
  hasLedger(ledger: string): Promise<boolean>;
  close(): Promise<void>;
}

/** One change of an object, as told to watchers. */
export interface ObjectChange {
  readonly name: string;
  readonly op: "put" | "delete";
  /** The value put, when small enough to pass along (watchers then need no GET). */
  readonly bytes?: Uint8Array;
}

/**
 * Hears changes of one ledger: `changes` lists them, or is `undefined` when
 * the notifier may have missed some (it lost its connection): then anything
 * may have changed, and watchers must list.
 */
export type ChangeListener = (changes: readonly ObjectChange[] | undefined) => void;

/** Change notification across every instance that serves a ledger. */
export interface Notifier {
  /**
   * Tells every subscriber (on every instance) of `changes` to `ledger`;
   * `undefined` when the changes are not known exactly (a batch that
   * failed halfway): subscribers then hear that anything may have changed.
   */
  publish(ledger: string, changes: readonly ObjectChange[] | undefined): Promise<void>;
  /** Calls `fn` for changes of `ledger`; resolves once subscribed (no later change is missed). */
  subscribe(ledger: string, fn: ChangeListener): Promise<() => void>;
  close(): Promise<void>;
}

/** Everything a server instance needs. */
export interface Backend {
  readonly objects: ObjectBackend;
  readonly tokens: TokenStore;
  readonly notifier: Notifier;
  /** Describes the backend in the startup line and `/healthz`. */
  readonly description: string;
  close(): Promise<void>;
}
