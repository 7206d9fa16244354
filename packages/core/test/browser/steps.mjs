// What the several-tabs runners (tabs.mjs, tabs-share.mjs) share: named steps,
// counted and printed one line each, with a deadline on every wait.
import { indent } from "./chromium.mjs";

/**
 * Steps printed as `✓ <prefix>: <name> (ms)`; each wait fails after
 * `deadlineMs`. `counts()` gives what passed and failed so far.
 */
export function stepper(prefix, deadlineMs) {
  let passed = 0;
  let failed = 0;
  const fail = (name, detail) => {
    failed++;
    console.log(`✗ ${name}`);
    if (detail) console.log(indent(detail));
  };
  /** Resolves with `promise`, or rejects after the deadline naming `what`. */
  const deadline = (promise, what) => {
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), deadlineMs)));
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };
  /** Resolves once `check()` (sync or async) holds, checking every few milliseconds, within the deadline. */
  const until = (check, what) =>
    deadline(
      (async () => {
        while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      what,
    );
  /** Runs one named step, counting it; a failure is reported and thrown (the steps after it depend on it). */
  const step = async (name, run) => {
    const started = performance.now();
    try {
      await run();
      passed++;
      console.log(`✓ ${prefix}: ${name} (${(performance.now() - started).toFixed(0)} ms)`);
    } catch (err) {
      fail(`${prefix}: ${name}`, err.stack ?? String(err));
      throw err;
    }
  };
  const expect = (condition, message) => {
    if (!condition) throw new Error(message);
  };
  return { fail, deadline, until, step, expect, counts: () => ({ passed, failed }) };
}
