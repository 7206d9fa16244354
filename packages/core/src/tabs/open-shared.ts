/**
 * `open()` in browsers: one database per origin. The first tab (or
 * worker) to open a ledger owns it and serves it to the others
 * (`./owner.ts`); a later one becomes a follower (`./follower.ts`) instead
 * of failing `LOCKED`, and waits in line for the store's lock to take over
 * when the owner goes.
 *
 * Before, a second tab got `LOCKED` (safe, after the data-loss fix, but
 * not useful): apps had to tell the user to close the other tab, and the
 * demo kept one replica per tab that saw the other tabs' writes only
 * through the sync server, so two tabs of one app disagreed offline.
 *
 * A tab that holds the ledger with `tabs: "exclusive"` serves nobody: a
 * sharing `open` elsewhere waits until it lets go (then takes it over).
 * A frozen owner answers nothing until it resumes; its followers' calls
 * wait (and go to the next owner if the frozen tab is discarded).
 *
 * @module
 */
import { HearthError, isHearthError } from "../errors.js";
import { newDocId } from "../ids.js";
import { SharedLedger } from "../ledger/handles.js";
import type { Ledger } from "../ledger/ledger.js";
import { openLedger, sharedLedgerOf } from "../ledger/open.js";
import type { OpenOptions } from "../ledger/types.js";
import type { Platform } from "../platform/types.js";
import { TabFollower } from "./follower.js";
import { serveTabs } from "./owner.js";

/** This tab's id as an owner. */
const TAB = newDocId();
/** Stores this tab serves to the others. */
const serving = new Set<string>();
/** Stores this tab follows, each shared by its handles here. */
const following = new Map<string, Promise<SharedLedger>>();

/** Opens `name` sharing it with the other tabs of this origin (see the module docs). */
export async function openShared(name: string, options: OpenOptions, platform: Platform): Promise<Ledger> {
  if (options.tabs === "exclusive") return openLedger(name, options, platform);
  if (options.tabs !== undefined && options.tabs !== "share") {
    throw new HearthError("INVALID_ARGUMENT", `tabs must be "share" or "exclusive", got ${JSON.stringify(options.tabs)}`);
  }
  const storeUrl = options.store ?? platform.defaultStoreUrl(name);
  for (;;) {
    const followed = await following.get(storeUrl)?.catch(() => undefined);
    if (followed && !followed.released) return followed.handle();
    if (!followed) break;
    await followed.whenReleased();
  }
  try {
    const handle = await openLedger(name, { ...options, wait: false }, platform);
    await serve(storeUrl);
    return handle;
  } catch (err) {
    if (!(isHearthError(err, "LOCKED") && /another tab/.test(err.message))) throw err;
  }
  return follow(name, storeUrl, options, platform);
}

/** Serves the ledger of `storeUrl` (open in this tab) to the other tabs until it closes. */
async function serve(storeUrl: string): Promise<void> {
  if (serving.has(storeUrl)) return;
  const shared = await sharedLedgerOf(storeUrl);
  if (!shared || shared.released || serving.has(storeUrl)) return;
  serving.add(storeUrl);
  const stop = serveTabs(shared.ledger, storeUrl, TAB);
  void shared.closed.then(() => {
    stop();
    serving.delete(storeUrl);
  });
}

async function follow(name: string, storeUrl: string, options: OpenOptions, platform: Platform): Promise<Ledger> {
  const made = (async () => {
    // In line for the lock: when the owner goes, this tab may be the one to take over.
    const giveUp = new AbortController();
    let tookOver: Ledger | undefined;
    const waiting = openLedger(name, { ...options, wait: { signal: giveUp.signal } }, platform).then(
      async (ledger) => {
        tookOver = ledger;
        await serve(storeUrl);
      },
      () => undefined, // given up (this tab closed the ledger), or the store failed: the calls say so
    );
    const follower = new TabFollower(name, storeUrl, async () => {
      giveUp.abort();
      await waiting;
      await tookOver?.close();
    });
    try {
      await follower.ready();
    } catch (err) {
      await follower.close();
      throw err;
    }
    const shared = new SharedLedger(follower.ledger);
    void shared.closed.then(() => following.delete(storeUrl));
    return shared;
  })();
  following.set(storeUrl, made);
  try {
    return (await made).handle();
  } catch (err) {
    following.delete(storeUrl);
    throw err;
  }
}
