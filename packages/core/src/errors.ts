/**
 * Hearth's one error class. Every failure a caller can act on carries a
 * stable {@link HearthErrorCode}; tests and applications branch on `code`,
 * never on `message`. Programmer mistakes (wrong argument types) throw
 * `TypeError` instead.
 *
 * @module
 */

/**
 * Stable error codes. Each is documented in the README's "Error codes" table;
 * adding one means adding a row there.
 */
export const ERROR_CODES = [
  /** The document does not exist (or was deleted). */
  "NOT_FOUND",
  /** Data is encrypted with a key this keyring does not hold. */
  "KEY_REQUIRED",
  /** Stored or received bytes do not match their content address or fail authentication. */
  "INTEGRITY",
  /** The caller lacks the right to do this (sync server tokens). */
  "UNAUTHORIZED",
  /** A document is not plain JSON, or its `_id` is not a usable string. */
  "INVALID_DOC",
  /** The ledger, store or keyring was closed (or destroyed) before the call. */
  "STORE_CLOSED",
  /** A store or keyring URL cannot be parsed or names an unknown scheme. */
  "INVALID_URL",
  /** Another process holds the ledger's directory open. */
  "LOCKED",
  /** The underlying storage failed (disk full, permission denied, quota, …). */
  "STORAGE_FAILED",
  /** An argument has the right type but an unusable value (bad range, unknown clock, …). */
  "INVALID_ARGUMENT",
  /** A wait with a deadline (`synced({ timeoutMs })`, …) ran out before its condition held. */
  "TIMEOUT",
  /** This device's role at a sync point does not allow it (a reader writing, a writer inviting), or a write came from a device without that right. */
  "FORBIDDEN",
  /** The sync point no longer serves something this replica knows it stored (a bundle, a membership entry): it was deleted or withheld. */
  "WITHHELD",
  /** This device was removed from the sync point: it reads nothing written after its removal, and its writes are refused. */
  "REMOVED",
  /** A document is larger than one document may be, or a sync point refused an object as too large. */
  "TOO_LARGE",
  /** A sync point refused a write because the ledger holds as many bytes there as its quota allows. */
  "QUOTA_EXCEEDED",
] as const;

/** One of {@link ERROR_CODES}. */
export type HearthErrorCode = (typeof ERROR_CODES)[number];

/**
 * The error every Hearth API rejects with for failures the caller can act on.
 *
 * @example
 * ```ts
 * try { await db.get("missing") }
 * catch (e) { if (e instanceof HearthError && e.code === "NOT_FOUND") { … } }
 * ```
 */
export class HearthError extends Error {
  /** Stable, documented code; branch on this. */
  readonly code: HearthErrorCode;

  /**
   * @param code - the stable code
   * @param message - what happened and what to do about it
   * @param options - `cause`: the underlying error, if any
   */
  constructor(code: HearthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HearthError";
    this.code = code;
  }
}

/** True when `err` is a {@link HearthError}, optionally with the given code. */
export function isHearthError(err: unknown, code?: HearthErrorCode): err is HearthError {
  return err instanceof HearthError && (code === undefined || err.code === code);
}
