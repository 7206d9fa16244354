// Turns the per-engine step reports into the one table the bench prints.
// Ratios are oriented so that > 1 always means "Hearth is better": for rates
// it is Hearth / peer, for times and sizes it is peer / Hearth.

const MB = 1024 * 1024;

/**
 * The rows of the table, in order: which child (`phase`, default "main"),
 * which step report and which field of it feed the row, and which direction
 * is better (it orients the ratio).
 */
export const ROWS = [
  { label: "sequential puts (docs/s)", step: "seqPuts", field: "perSec", better: "higher", unit: "rate" },
  { label: "concurrent puts, Promise.all (docs/s)", step: "concurrentPuts", field: "perSec", better: "higher", unit: "rate" },
  { label: "bulk in 100s (docs/s)", step: "bulkPuts", field: "perSec", better: "higher", unit: "rate" },
  { label: "get by id, random order (ops/s)", step: "getById", field: "perSec", better: "higher", unit: "rate" },
  { label: "allDocs, all docs (ms)", step: "allDocs", field: "ms", better: "lower", unit: "ms" },
  { label: "query done=true, index build (ms)", step: "queryBuild", field: "ms", better: "lower", unit: "ms" },
  { label: "query done=true, warm (ms)", step: "queryWarm", field: "ms", better: "lower", unit: "ms" },
  { label: "fresh process: open + allDocs (ms)", step: "reopen", field: "ms", better: "lower", unit: "ms", fileOnly: true, phase: "reopen" },
  { label: "bytes on disk, sequential ledger (MB)", step: "bytes_seq", field: "bytes", better: "lower", unit: "MB", fileOnly: true },
  { label: "bytes on disk, bulk ledger (MB)", step: "bytes_bulk", field: "bytes", better: "lower", unit: "MB", fileOnly: true },
  { label: "peak RSS, before the concurrent step (MB)", step: "maxRSSBeforeConcurrent", field: "bytes", better: "lower", unit: "MB" },
  { label: "peak RSS, whole run (MB)", step: "maxRSS", field: "bytes", better: "lower", unit: "MB" },
  { label: "peak RSS, fresh reopen process (MB)", step: "maxRSS", field: "bytes", better: "lower", unit: "MB", fileOnly: true, phase: "reopen" },
];

/**
 * One cell: the number, or why there is none. `FAILED` carries the error so
 * the footnotes can say what went wrong.
 * @returns {{ value?: number, failed?: string }}
 */
export function cell(result, row) {
  if (!result) return {};
  const phase = result[row.phase ?? "main"];
  const step = phase?.steps[row.step];
  if (step && step.error === undefined && typeof step[row.field] === "number") return { value: step[row.field] };
  if (step?.error) return { failed: step.error };
  if (phase?.error) return { failed: phase.error };
  return { failed: "step did not report" };
}

function formatValue(value, unit) {
  if (unit === "MB") return (value / MB).toFixed(1);
  if (unit === "ms") return value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US");
  return Math.round(value).toLocaleString("en-US");
}

/** A cell as printed: the number in the row's unit, FAILED, or n.a. */
export function formatCell(c, unit) {
  if (c.value !== undefined) return formatValue(c.value, unit);
  return c.failed ? "FAILED" : "n.a.";
}

/** Hearth's advantage over a peer on one row; undefined unless both have numbers. */
export function ratio(hearth, peer, better) {
  if (hearth.value === undefined || peer.value === undefined || hearth.value === 0 || peer.value === 0) return undefined;
  return better === "higher" ? hearth.value / peer.value : peer.value / hearth.value;
}

/** A ratio as printed: two decimals below 10, whole above. */
export function formatRatio(r) {
  if (r === undefined) return "n.a.";
  return r >= 10 ? `${Math.round(r)}×` : `${r.toFixed(2)}×`;
}

/**
 * Builds the table rows (as data, for last.json) and the printable text.
 * @param {Record<string, Record<string, unknown>>} results engine → storage → { main, reopen }
 * @param {string[]} storages
 */
export function buildTable(results, storages) {
  const rows = [];
  for (const storage of storages) {
    for (const row of ROWS) {
      if (row.fileOnly && storage !== "file") continue;
      const cells = Object.fromEntries(
        ["hearth", "fireproof", "pouchdb"].map((engine) => [engine, cell(results[engine]?.[storage], row)]),
      );
      rows.push({
        storage,
        label: row.label,
        unit: row.unit,
        better: row.better,
        cells,
        hearthVsFireproof: ratio(cells.hearth, cells.fireproof, row.better),
        hearthVsPouchdb: ratio(cells.hearth, cells.pouchdb, row.better),
      });
    }
  }
  const header = ["storage", "measurement", "Hearth", "Fireproof", "PouchDB", "Hearth vs FP", "Hearth vs Pouch"];
  const lines = rows.map((r) => [
    r.storage,
    r.label,
    formatCell(r.cells.hearth, r.unit),
    formatCell(r.cells.fireproof, r.unit),
    formatCell(r.cells.pouchdb, r.unit),
    formatRatio(r.hearthVsFireproof),
    formatRatio(r.hearthVsPouchdb),
  ]);
  return { rows, text: renderColumns(header, lines) };
}

/**
 * Lays out a table as aligned text: the first `leftColumns` columns (by
 * default two: storage, measurement) left-aligned, the numbers right-aligned.
 * @param {string[]} header
 * @param {string[][]} lines
 * @param {number} [leftColumns]
 */
export function renderColumns(header, lines, leftColumns = 2) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols) => cols.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(fmt)].join("\n");
}
