// The sync section's table: rows = measurements, columns = engines, then
// Hearth's advantage over Fireproof (shared key) and PouchDB. Every row is a
// time, so each ratio is peer / Hearth: > 1 means Hearth is better, as in the
// core section's table.
import { SYNC_ENGINES } from "./sync-engines.mjs";
import { cell, formatCell, formatRatio, ratio, renderColumns } from "./table.mjs";

/**
 * The rows, in order. `phase` is the measurement (one child each), `step`
 * the report it sends, `field` the number in it.
 * @param {{ writes: number, docs: number, replicas: number, each: number }} settings
 */
export function syncRows({ writes, docs, replicas, each }) {
  const n = (x) => x.toLocaleString("en-US");
  return [
    { label: `write on A → seen on B, p50 of ${n(writes)} (ms)`, phase: "latency", step: "latency", field: "p50" },
    { label: `write on A → seen on B, p99 of ${n(writes)} (ms)`, phase: "latency", step: "latency", field: "p99" },
    { label: `late joiner: join until it holds ${n(docs)} docs (ms)`, phase: "lateJoin", step: "lateJoin", field: "ms" },
    { label: `${replicas} replicas × ${n(each)} concurrent puts: until converged (ms)`, phase: "replicas", step: "replicas", field: "ms" },
  ].map((row) => ({ ...row, unit: "ms", better: "lower" }));
}

/**
 * Builds the rows (as data, for last.json) and the printable text.
 * @param {Record<string, Record<string, unknown>>} results engine → remote → measurement → child outcome
 * @param {string[]} remotes
 * @param {{ writes: number, docs: number, replicas: number, each: number }} settings
 */
export function buildSyncTable(results, remotes, settings) {
  const rows = [];
  for (const remote of remotes) {
    for (const row of syncRows(settings)) {
      const cells = Object.fromEntries(SYNC_ENGINES.map(({ name }) => [name, cell(results[name]?.[remote], row)]));
      rows.push({
        remote,
        label: row.label,
        unit: row.unit,
        better: row.better,
        cells,
        hearthVsFireproofShared: ratio(cells.hearth, cells["fireproof-shared"], row.better),
        hearthVsPouchdb: ratio(cells.hearth, cells.pouchdb, row.better),
      });
    }
  }
  const header = ["remote", "measurement", ...SYNC_ENGINES.map((e) => e.title), "Hearth vs FP shared", "Hearth vs Pouch"];
  const lines = rows.map((r) => [
    r.remote,
    r.label,
    ...SYNC_ENGINES.map(({ name }) => formatCell(r.cells[name], r.unit)),
    formatRatio(r.hearthVsFireproofShared),
    formatRatio(r.hearthVsPouchdb),
  ]);
  return { rows, text: renderColumns(header, lines) };
}
