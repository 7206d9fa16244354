/** Assertion shared by tests: a promise rejects with a HearthError of a given code. */
import { expect } from "vitest";
import { HearthError } from "../../src/errors.js";

/** Awaits `promise` and asserts it rejected with a {@link HearthError} whose code is `code`. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HearthError);
  expect((err as HearthError).code).toBe(code);
}
