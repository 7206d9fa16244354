// The sync section's engines. Each adapter builds the three set-ups the
// measurements need (two replicas, a late joiner, a group) its own engine's
// way, and hands back replicas with one shape, so bench/sync-workload.mjs
// writes, waits and checks the same way for every engine.
import { pathToFileURL } from "node:url";

/**
 * @typedef {{ _id: string, n: number }} BenchDoc a document from workload.mjs `makeDoc`
 * @typedef {{
 *   put(doc: BenchDoc): Promise<unknown>,
 *   bulk(docs: BenchDoc[]): Promise<unknown>,
 *   onDocs(fn: (ids: string[]) => void): () => void,
 *   count(): Promise<number>,
 *   root(): Promise<string>,
 * }} Replica
 * A replica that the bench writes to or watches. `onDocs` reports the ids of
 * documents that arrived (or changed) there; `root` is a digest of its state
 * that must be equal on replicas holding the same data.
 *
 * @typedef {{
 *   notes: string[],
 *   hasSynced: boolean,
 *   pair(): Promise<{ a: Replica, b: Replica }>,
 *   lateJoiner(write: (a: Replica) => Promise<void>): Promise<{ b: Replica, join(): Promise<void> }>,
 *   group(k: number): Promise<Replica[]>,
 *   settle(replicas: Replica[]): Promise<void>,
 *   logged(): string[],
 *   close(): Promise<void>,
 * }} SyncEngine
 * `pair`: A and B connected, B's changes flowing. `lateJoiner`: A writes
 * (through `write`) while connected, finishes and closes; B exists but is
 * not connected until `join()`. `group`: k replicas connected to one sync
 * point. `settle` waits for the engine's own "in sync" signal where it has
 * one (`hasSynced`), else returns at once and the bench polls the data.
 * `logged` is what the engine printed as warnings or errors, for footnotes.
 */

/** Sync engines in table column order, with the core-section engine each belongs to (for BENCH_ENGINES). */
export const SYNC_ENGINES = [
  { name: "hearth", family: "hearth", title: "Hearth" },
  { name: "fireproof-default", family: "fireproof", title: "FP default keys" },
  { name: "fireproof-shared", family: "fireproof", title: "FP shared key" },
  { name: "pouchdb", family: "pouchdb", title: "PouchDB" },
];

/**
 * Loads one sync engine for one kind of remote, everything under `dir`.
 * @param {string} name one of SYNC_ENGINES
 * @param {"memory" | "file"} remote memory: in-process remote and stores; file: a shared directory and file stores
 * @param {string} dir absolute directory the child may write into
 * @param {{ settleTimeoutMs: number }} limits
 * @returns {Promise<SyncEngine>}
 */
export async function loadSyncEngine(name, remote, dir, limits) {
  if (name === "hearth") return (await import("./sync-hearth.mjs")).loadHearthSync(remote, dir, limits);
  if (name === "fireproof-default") return (await import("./sync-fireproof.mjs")).loadFireproofSync(remote, dir, { sharedKey: false });
  if (name === "fireproof-shared") return (await import("./sync-fireproof.mjs")).loadFireproofSync(remote, dir, { sharedKey: true });
  if (name === "pouchdb") return (await import("./sync-pouchdb.mjs")).loadPouchSync(remote, dir);
  throw new TypeError(`unknown sync engine ${name}; expected one of ${SYNC_ENGINES.map((e) => e.name).join(", ")}`);
}

/** `file://` URL of a path, as every engine here wants its file locations. */
export function fileUrl(p) {
  return pathToFileURL(p).href;
}
