// What the several-tabs runners (tabs.mjs, tabs-share.mjs) share: named steps,
// counted and printed one line each, with a deadline on every wait.
import { indent } from "./chromium.mjs";

/**
 * Steps printed as `✓ <prefix>: <name> (ms)`; each wait fails after
 * `deadlineMs`. `runAll(main)` runs the runner and prints the summary.
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
  /**
   * Runs the runner's `main` (a failed step has reported itself; anything
   * else thrown is reported as the runner crashing), then prints
   * `N passed, N failed` and sets the exit code (non-zero on a failure or
   * if nothing passed).
   */
  const runAll = async (main) => {
    await main().catch((err) => fail(`${prefix} runner crashed`, err.stack ?? String(err)));
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
  };
  return { fail, deadline, until, step, expect, runAll };
}
