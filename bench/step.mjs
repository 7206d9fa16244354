// What every bench child shares: how a finished step is reported to the
// parent, how an error becomes one short line, and how a step gets a deadline.
import { clearTimeout, setTimeout } from "node:timers";

/** Prefix of the one line per finished step that the parent reads from a child's stdout. */
export const MARK = "@@bench ";

/**
 * Prints one step's outcome at once, so a child killed later (deadline,
 * crash, out of memory) still leaves the steps it finished.
 */
export function report(step, fields) {
  process.stdout.write(`${MARK}${JSON.stringify({ step, ...fields })}\n`);
}

/** One short line per error, with its code when it has one: a table cell's footnote, not a stack. */
export function errorText(err) {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const code = err && typeof err === "object" && "code" in err ? ` [${err.code}]` : "";
  return (text + code).trim().slice(0, 300);
}

/** A step that passed its deadline; the engine is presumably still busy with it. */
export class StepTimeout extends Error {
  name = "Timeout";
}

/**
 * Rejects after `timeoutMs` so one step that never settles cannot eat the
 * whole run; `message()` is asked at that moment so it can say how far the
 * step got.
 * @param {number} timeoutMs
 * @param {() => string} message
 */
export function stepDeadline(timeoutMs, message) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeout(message())), timeoutMs);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
