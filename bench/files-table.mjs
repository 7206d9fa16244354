// The files section's table: rows = measurements (end-to-end rate, put
// rate, peak RSS of each side), columns = raw copy, Hearth over file://,
// Hearth through hearth serve, PouchDB; then Hearth's ratios against the raw
// copy and against PouchDB, oriented so that > 1 means Hearth is better
// (rates: Hearth / peer; memory: peer / Hearth).
import { formatRatio, ratio, renderColumns } from "./table.mjs";

const MB = 1024 * 1024;

/** The columns, in order: key in the results, title. */
export const FILES_COLUMNS = [
  { key: "raw", title: "raw copy" },
  { key: "floorFile", title: "floor file://" },
  { key: "file", title: "Hearth file://" },
  { key: "floorServe", title: "floor serve" },
  { key: "serve", title: "Hearth serve" },
  { key: "pouchdb", title: "PouchDB" },
];

/** The first error a set of child outcomes carries (a step's, or the child's own), for a FAILED cell. */
function firstError(outcomes) {
  for (const outcome of outcomes) {
    const step = Object.entries(outcome.steps).find(([, fields]) => fields.error !== undefined);
    if (step) return `${step[0]}: ${step[1].error}`;
  }
  for (const outcome of outcomes) if (outcome.error) return outcome.error;
  return undefined;
}

/** A cell from a number that may be missing: the value, or FAILED with why. */
function measured(value, outcomes, why) {
  if (typeof value === "number" && Number.isFinite(value)) return { value };
  return { failed: firstError(outcomes) ?? why };
}

const rate = (bytes, ms) => (typeof ms === "number" && ms > 0 ? bytes / MB / (ms / 1000) : undefined);

/** The peak RSS a child reported at the end of its timed part; FAILED with the last sample taken if it never got there. */
function rssCell(outcome) {
  const cell = measured(outcome.steps.rss?.bytes, [outcome], "did not finish");
  const soFar = outcome.steps.rssSoFar?.bytes;
  if (cell.failed && soFar) cell.failed += ` (peak RSS ${(soFar / MB).toFixed(0)} MB when last sampled)`;
  return cell;
}

/**
 * Every column's cells, from its children's outcomes: `{ raw }`, `{ a, b,
 * server? }` (Hearth) or `{ pouchdb }`. The end-to-end cell needs the
 * receiver's bytes checked, so a wrong copy is FAILED, not fast.
 */
export function columnCells(key, result, bytes) {
  if (!result) return {};
  if (key === "raw") {
    const { raw } = result;
    const ok = raw.steps.verify && !raw.steps.verify.error;
    const rss = rssCell(raw);
    return { e2e: measured(ok ? rate(bytes, raw.steps.copy?.ms) : undefined, [raw], "no report"), put: {}, rssA: rss, rssB: rss };
  }
  if (key === "pouchdb") {
    const { pouchdb } = result;
    const { put, received, verify } = pouchdb.steps;
    const ok = verify && !verify.error && received;
    const rss = rssCell(pouchdb);
    return {
      e2e: measured(ok ? rate(bytes, received.doneAt - put.startAt) : undefined, [pouchdb], "did not finish"),
      put: measured(rate(bytes, put?.ms), [pouchdb], "did not finish"),
      rssA: rss,
      rssB: rss,
    };
  }
  const { a, b, server } = result;
  const { put } = a.steps;
  const { received, verify } = b.steps;
  const ok = verify && !verify.error && received && !received.error && put;
  return {
    e2e: measured(ok ? rate(bytes, received.doneAt - put.startAt) : undefined, [a, b], "did not finish"),
    put: measured(rate(bytes, put?.ms), [a], "did not finish"),
    rssA: rssCell(a),
    rssB: rssCell(b),
    ...(key === "serve" && { rssServer: measured(server?.hwmBytes, [], server?.error ?? "not read") }),
  };
}

const ROWS = [
  { key: "e2e", label: "A → sync point → B, end to end (MB/s)", unit: "rate", better: "higher" },
  { key: "put", label: "put into A's local store (MB/s)", unit: "rate", better: "higher" },
  { key: "rssA", label: "peak RSS, A's process (MB)", unit: "MB", better: "lower" },
  { key: "rssB", label: "peak RSS, B's process (MB)", unit: "MB", better: "lower" },
  { key: "rssServer", label: "peak RSS, hearth serve (MB)", unit: "MB", better: "lower" },
];

function format(c, unit) {
  if (c?.value !== undefined) return unit === "MB" ? (c.value / MB).toFixed(0) : c.value.toFixed(c.value < 100 ? 1 : 0);
  return c?.failed ? "FAILED" : "n.a.";
}

/**
 * Builds the rows (as data, for last.json) and the printable text.
 * @param {Record<string, unknown>} results column key → its children's outcomes
 * @param {number} bytes size of the file
 */
export function buildFilesTable(results, bytes) {
  const cells = Object.fromEntries(FILES_COLUMNS.map(({ key }) => [key, columnCells(key, results[key], bytes)]));
  const rows = ROWS.map((row) => {
    const byColumn = Object.fromEntries(FILES_COLUMNS.map(({ key }) => [key, cells[key][row.key] ?? {}]));
    return {
      label: row.label,
      unit: row.unit,
      better: row.better,
      cells: byColumn,
      fileVsRaw: ratio(byColumn.file, byColumn.raw, row.better),
      serveVsRaw: ratio(byColumn.serve, byColumn.raw, row.better),
      fileVsFloor: ratio(byColumn.file, byColumn.floorFile, row.better),
      serveVsFloor: ratio(byColumn.serve, byColumn.floorServe, row.better),
      floorFileVsRaw: ratio(byColumn.floorFile, byColumn.raw, row.better),
      floorServeVsRaw: ratio(byColumn.floorServe, byColumn.raw, row.better),
      fileVsPouchdb: ratio(byColumn.file, byColumn.pouchdb, row.better),
      serveVsPouchdb: ratio(byColumn.serve, byColumn.pouchdb, row.better),
    };
  });
  const header = ["measurement", ...FILES_COLUMNS.map((c) => c.title), "file:// vs raw", "serve vs raw", "floor file:// vs raw", "floor serve vs raw", "file:// vs floor", "serve vs floor", "file:// vs Pouch", "serve vs Pouch"];
  const lines = rows.map((r) => [
    r.label,
    ...FILES_COLUMNS.map(({ key }) => format(r.cells[key], r.unit)),
    ...[r.fileVsRaw, r.serveVsRaw, r.floorFileVsRaw, r.floorServeVsRaw, r.fileVsFloor, r.serveVsFloor, r.fileVsPouchdb, r.serveVsPouchdb].map(formatRatio),
  ]);
  // One line per column and reason (a dead child fails every row of its column the same way).
  const failures = [...new Set(rows.flatMap((r) => FILES_COLUMNS.filter(({ key }) => r.cells[key].failed).map(({ title, key }) => `${title}: ${r.cells[key].failed}`)))];
  return { rows, failures, text: renderColumns(header, lines, 1) };
}

/** Where a Hearth column's time went, from A's put start (s): one line for the notes under the table. */
export function hearthTimeline(title, result) {
  const put = result?.a.steps.put;
  if (!put) return undefined;
  const at = (t) => (typeof t === "number" ? `${((t - put.startAt) / 1000).toFixed(1)} s` : "—");
  const { pushed } = result.a.steps;
  const { received } = result.b.steps;
  return (
    `${title}: put done at ${at(put.endAt)}, doc at the point ${at(pushed?.docPushedAt)}, ` +
    `A's blocks at the point ${at(pushed?.filesPushedAt)}, B saw the doc ${at(received?.docAt)}, B's filesSynced ${at(received?.doneAt)}`
  );
}
