/**
 * `@hearth/core/testing`: the portable conformance suites, so any store,
 * keyring or ledger implementation (including ones outside this package)
 * can prove it behaves like the built-in ones.
 *
 * @example
 * ```ts
 * import { storeConformance } from "@hearth/core/testing";
 * for (const c of storeConformance({ label: "mine", open: async () => ({ store: await openMine() }) })) it(c.name, c.run);
 * ```
 *
 * @module
 */
export { check, checkEqual, checkRejects, deepEqual, utf8, type TestCase } from "./harness.js";
export { storeConformance, type StoreFactory } from "./store-suite.js";
export { keyringConformance, type KeyringFactory } from "./keyring-suite.js";
export { ledgerConformance, type LedgerFactory } from "./ledger-suite.js";
export { remoteConformance, waitFor, type RemoteFactory } from "./remote-suite.js";
export { faultyRemote, type FaultyRemote, type FaultyRemoteOptions, type FaultStats } from "./faulty-remote.js";
export { HostileSyncPoint, hostileRemote, FORGED_MARK, type AttackReport } from "./hostile-remote.js";
export { syncConformance, type SyncFactory, type SyncSession } from "./sync-suite.js";
export { rng } from "./rng.js";
