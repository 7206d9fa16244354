/**
 * Fireproof's not-found error: apps test `isNotFoundError(err)` or
 * `err.code === "ENOENT"`, or match `/Not found/` in the message. The
 * Hearth error behind it (`NOT_FOUND`) is its `cause`.
 *
 * @module
 */

/** A document that does not exist (or was deleted). */
export class NotFoundError extends Error {
  readonly code = "ENOENT";

  constructor(id: string, options?: { cause?: unknown }) {
    super(`Not found: ${id}`, options);
    this.name = "NotFoundError";
  }
}

/** True for a {@link NotFoundError} (or anything with `code === "ENOENT"`). */
export function isNotFoundError(err: unknown): boolean {
  return err instanceof NotFoundError || (typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT");
}
