// The table of `npm run bench:browser`: rows = measurements, per size the
// three engines and Hearth's ratio to each peer, oriented so that > 1 means
// Hearth is better (rates: Hearth / peer; times and sizes: peer / Hearth).
import { cell, formatCell, formatRatio, ratio, renderColumns } from "./table.mjs";

const TITLES = { hearth: "Hearth", dexie: "Dexie", pouchdb: "PouchDB" };

/** The rows: which phase and step report feed each, which field, which direction is better. */
export const BROWSER_ROWS = [
  { label: "bulk load in 1,000s (docs/s)", phase: "load", step: "load", field: "perSec", better: "higher", unit: "rate" },
  { label: "page reload + open + read all (ms)", phase: "reopen", step: "reopenReadAll", field: "ms", better: "lower", unit: "ms" },
  { label: "bytes stored, storage.estimate() (MB)", phase: "size", step: "bytes", field: "bytes", better: "lower", unit: "MB" },
  { label: "bytes on disk, IndexedDB files (MB)", phase: "size", step: "diskBytes", field: "bytes", better: "lower", unit: "MB" },
  { label: "query build, done === true (ms)", phase: "reopen", step: "queryBuild", field: "ms", better: "lower", unit: "ms" },
  { label: "random get by id (ops/s)", phase: "reopen", step: "getById", field: "perSec", better: "higher", unit: "rate" },
];

function shortN(n) {
  return n >= 1_000 && n % 1_000 === 0 ? `${n / 1_000}k` : n.toLocaleString("en-US");
}

/**
 * Builds the rows (as data, for browser-last.json) and the printable text.
 * @param {Record<number, Record<string, Record<string, { steps: object, error?: string }>>>} results N → engine → phase → outcome
 * @param {number[]} sizes
 * @param {string[]} engines
 */
export function buildBrowserTable(results, sizes, engines) {
  const peers = engines.filter((e) => e !== "hearth");
  const withHearth = engines.includes("hearth");
  const rows = BROWSER_ROWS.map((row) => {
    const bySize = {};
    for (const n of sizes) {
      const cells = Object.fromEntries(engines.map((e) => [e, cell(results[n]?.[e], row)]));
      const ratios = withHearth ? Object.fromEntries(peers.map((p) => [p, ratio(cells.hearth, cells[p], row.better)])) : {};
      bySize[n] = { cells, hearthVs: ratios };
    }
    return { label: row.label, unit: row.unit, better: row.better, bySize };
  });
  const header = [
    "measurement",
    ...sizes.flatMap((n) => [
      ...engines.map((e) => `${TITLES[e]} ${shortN(n)}`),
      ...(withHearth ? peers.map((p) => `vs ${TITLES[p]}`) : []),
    ]),
  ];
  const lines = rows.map((r) => [
    r.label,
    ...sizes.flatMap((n) => [
      ...engines.map((e) => formatCell(r.bySize[n].cells[e], r.unit)),
      ...(withHearth ? peers.map((p) => formatRatio(r.bySize[n].hearthVs[p])) : []),
    ]),
  ]);
  return { rows, text: renderColumns(header, lines, 1) };
}
