/**
 * Every name sync uses, in one place: at the remote, and in the ledger's
 * own store for each attachment's bookkeeping.
 *
 * At the remote (all immutable, content-addressed by CID):
 * - `m/<cid>`       a membership log entry, signed, in the clear (`trust/entry.ts`)
 * - `bundle/<cid>`  sealed events with their write statements (`./protocol.ts`)
 * - `head/<cid>`    a sealed announcement of a writer's heads and bundles
 * - `file/<cid>`    a block of a file, sealed under keys only documents carry (`../files/blocks.ts`)
 *
 * In the ledger's store, under `sy/<point key>/` (the point key is a digest
 * of the remote URL, so one ledger can attach to several remotes):
 * - `pin`           the sync point id this replica accepts
 * - `m/<cid>`       every membership entry this replica verified
 * - `pushed`        the outbox cursor: local events up to here are stored remotely
 * - `b/<cid>`       a bundle whose events are all merged here (no need to fetch it again); for
 *                   another device's bundle, the statements that vouched for it (`./relay.ts`)
 * - `ob/<cid>`      a bundle this replica stored, with the local positions it covers
 * - `cut/<cid>/<device>`  a removal's (or demotion's) cutoff of one device, applied to what was merged before it
 * - `withdrawn/<cid>` a founding this replica gave up (it lost a race)
 * - `fu/<cid>`, `fd/<cid>` a file block uploaded there; a file whose blocks all are (`./file-transfer.ts`)
 *
 * @module
 */
import { fingerprintOf } from "../crypto/fingerprint.js";
export { ENTRY_PREFIX } from "../trust/entry.js";

/** Name prefix of bundles at a remote. */
export const BUNDLE_PREFIX = "bundle/";
/** Name prefix of announcements at a remote. */
export const HEAD_PREFIX = "head/";

/** The ledger store an attachment keeps its bookkeeping in (the replica port's `meta`). */
export interface LedgerMeta {
  get(key: string): Promise<Uint8Array | undefined>;
  list(prefix: string): Promise<string[]>;
  write(put: ReadonlyArray<readonly [string, Uint8Array]>, del?: readonly string[]): Promise<void>;
}

/** One attachment's bookkeeping: the same calls, with keys relative to its prefix. */
export interface PointMeta {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys (relative) starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
  write(put: ReadonlyArray<readonly [string, Uint8Array]>, del?: readonly string[]): Promise<void>;
}

/** The bookkeeping prefix of the remote at `remoteUrl`. */
export async function pointKey(remoteUrl: string): Promise<string> {
  return fingerprintOf(new TextEncoder().encode(`hearth/sync-point/${remoteUrl}`));
}

/** `meta` scoped to one attachment's prefix. */
export function pointMeta(meta: LedgerMeta, key: string): PointMeta {
  const prefix = `sy/${key}/`;
  return {
    get: (k) => meta.get(prefix + k),
    list: async (p) => (await meta.list(prefix + p)).map((k) => k.slice(prefix.length)),
    write: (put, del) => meta.write(put.map(([k, v]) => [prefix + k, v] as const), del?.map((k) => prefix + k)),
  };
}

/** The bookkeeping key of a merged bundle. */
export function seenBundleKey(bundle: string): string {
  return `b/${bundle.slice(BUNDLE_PREFIX.length)}`;
}
