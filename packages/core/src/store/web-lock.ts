/**
 * The browser store's write lock: an exclusive Web Lock held for as long as
 * the store is open, so that one tab or worker of an origin writes an
 * IndexedDB store at a time.
 *
 * Why Web Locks: IndexedDB has no notion of an owner, so two tabs that open
 * one database both write into it, each numbering its events from its own
 * state, and acknowledged writes of one vanish under the other's. Web
 * Locks are scoped like IndexedDB (one origin, every tab and worker), held
 * by the browser, and released when their holder's page or worker goes
 * away, however it goes (closed, crashed, navigated), so a dead holder
 * never leaves the store locked. A waiting opener is queued by the browser
 * and granted the lock the moment it is free; nothing polls.
 *
 * Browser-only (`navigator.locks`); no Node built-ins.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { waitedMs, type WaitPlan } from "./lock-wait.js";

/** Releases a lock taken by {@link holdWebLock}. Idempotent. */
export type ReleaseWebLock = () => void;

/**
 * Takes the exclusive Web Lock `name` and holds it until the returned
 * function is called. Without `plan`, fails at once if it is held.
 *
 * @param what - names the locked thing in messages (`indexeddb://todos`)
 * @throws HearthError `LOCKED` when another tab or worker holds it (with
 *   `plan`, once the wait runs out); `STORAGE_FAILED` where there are no
 *   Web Locks (pages that are not a secure context: https or localhost).
 */
export async function holdWebLock(name: string, what: string, plan: WaitPlan | undefined): Promise<ReleaseWebLock> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) {
    throw new HearthError(
      "STORAGE_FAILED",
      `${what} cannot be locked: this context has no Web Locks (navigator.locks), which Hearth needs so that two tabs ` +
        `never write one store at once. Serve the page from https:// or http://localhost (a secure context).`,
    );
  }
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const options: LockOptions = plan
    ? { mode: "exclusive", ...(plan.signal && { signal: plan.signal }) }
    : { mode: "exclusive", ifAvailable: true };
  let granted: boolean;
  try {
    granted = await new Promise<boolean>((resolve, reject) => {
      // The callback's promise is what holds the lock: it settles on release.
      locks.request(name, options, (lock) => {
        resolve(lock !== null);
        return lock ? released : undefined;
      }).catch(reject);
    });
  } catch (cause) {
    if (plan?.signal?.aborted) throw lockedError(what, plan, plan.signal.reason);
    throw new HearthError("STORAGE_FAILED", `the Web Lock for ${what} could not be taken: ${(cause as Error).message}`, { cause });
  }
  if (!granted) throw lockedError(what, plan);
  return release;
}

function lockedError(what: string, plan: WaitPlan | undefined, cause?: unknown): HearthError {
  const waited = plan ? ` (still, after waiting ${Math.round(waitedMs(plan))} ms)` : "";
  return new HearthError(
    "LOCKED",
    `${what} is open in another tab or worker of this origin${waited}. ` +
      `Use it there, close it there, or open with { wait: true } to continue here once it is free.`,
    cause === undefined ? undefined : { cause },
  );
}
