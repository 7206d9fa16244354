// The scale bench's table: rows = measurements, columns = engine × N with
// Hearth's advantage over PouchDB per N (> 1 means Hearth is better, as in
// the core table), and, when several sizes ran, how Hearth's own figure grew
// from the smallest N to the largest.
import { cell, formatCell, formatRatio, ratio, renderColumns } from "./table.mjs";

/** Engines of the scale bench, in column order. */
export const SCALE_ENGINES = [
  { name: "hearth", title: "Hearth" },
  { name: "pouchdb", title: "PouchDB" },
];

/**
 * The rows, in order: which child (`phase`), which of its step reports and
 * which field feed the row, and which direction is better.
 * @param {{ getsAfterLoad: number, freshGets: number, warmGets: number }} settings
 */
export function scaleRows({ getsAfterLoad, freshGets, warmGets }) {
  const n = (x) => x.toLocaleString("en-US");
  const rate = { better: "higher", unit: "rate" };
  const ms = { field: "ms", better: "lower", unit: "ms" };
  const mb = { field: "bytes", better: "lower", unit: "MB" };
  return [
    { label: "bulk load in 1,000s (docs/s)", phase: "main", step: "load", field: "perSec", ...rate },
    { label: `get by id after the load, ${n(getsAfterLoad)} random (ops/s)`, phase: "main", step: "getAfterLoad", field: "perSec", ...rate },
    { label: `get by id, warm: ${n(warmGets)} random read a second time (ops/s)`, phase: "main", step: "warmGets", field: "perSec", ...rate },
    { label: "allDocs with bodies (ms)", phase: "main", step: "allDocs", ...ms },
    { label: "query done=true, index build (ms)", phase: "main", step: "queryBuild", ...ms },
    { label: "close (ms)", phase: "main", step: "close", ...ms },
    { label: "peak RSS while loading (MB)", phase: "rss", step: "loadRSS", ...mb },
    { label: "fresh process: open + one get (ms)", phase: "oneGet", step: "openOneGet", ...ms },
    { label: "fresh process: open + one get, peak RSS (MB)", phase: "oneGet", step: "rss", ...mb },
    { label: `fresh process: ${n(freshGets)} random gets (ops/s)`, phase: "gets", step: "freshGets", field: "perSec", ...rate },
    { label: `fresh process: ${n(freshGets)} random gets, peak RSS (MB)`, phase: "gets", step: "rss", ...mb },
    { label: "fresh process: open + allDocs (ms)", phase: "allDocs", step: "openAllDocs", ...ms },
    { label: "fresh process: open + query build, peak RSS (MB)", phase: "query", step: "rss", ...mb },
    { label: "fresh process: close after editing 100 docs (ms)", phase: "session", step: "sessionClose", ...ms },
    { label: "bytes on disk, incl. index (MB)", phase: "disk", step: "bytes", ...mb },
    { label: "bulk load in 1,000s, random ids (docs/s)", phase: "random", step: "randomLoad", field: "perSec", ...rate },
    { label: "close after the random-id load (ms)", phase: "random", step: "randomClose", ...ms },
    { label: "peak RSS while loading random ids (MB)", phase: "random", step: "randomRSS", ...mb },
  ];
}

/** 100000 → "100k", 1000000 → "1M": short enough for a column header. */
export function shortN(n) {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return n.toLocaleString("en-US");
}

/**
 * Builds the rows (as data, for scale-last.json) and the printable text.
 * @param {Record<string, Record<string, Record<string, unknown>>>} results N → engine → phase → child outcome
 * @param {number[]} sizes ascending
 * @param {{ getsAfterLoad: number, freshGets: number, warmGets: number }} settings
 */
export function buildScaleTable(results, sizes, settings) {
  const smallest = sizes[0];
  const largest = sizes.at(-1);
  const growth = sizes.length > 1;
  const rows = scaleRows(settings).map((row) => {
    const bySize = {};
    for (const n of sizes) {
      const cells = Object.fromEntries(SCALE_ENGINES.map(({ name }) => [name, cell(results[n]?.[name], row)]));
      bySize[n] = { cells, hearthVsPouchdb: ratio(cells.hearth, cells.pouchdb, row.better) };
    }
    const first = bySize[smallest].cells.hearth.value;
    const last = bySize[largest].cells.hearth.value;
    const hearthGrowth = growth && first && last !== undefined ? last / first : undefined;
    return { label: row.label, unit: row.unit, better: row.better, bySize, hearthGrowth };
  });
  const header = [
    "measurement",
    ...sizes.flatMap((n) => [...SCALE_ENGINES.map(({ title }) => `${title} ${shortN(n)}`), `vs Pouch ${shortN(n)}`]),
    ...(growth ? [`Hearth ${shortN(largest)}/${shortN(smallest)}`] : []),
  ];
  const lines = rows.map((r) => [
    r.label,
    ...sizes.flatMap((n) => [
      ...SCALE_ENGINES.map(({ name }) => formatCell(r.bySize[n].cells[name], r.unit)),
      formatRatio(r.bySize[n].hearthVsPouchdb),
    ]),
    ...(growth ? [formatRatio(r.hearthGrowth)] : []),
  ]);
  return { rows, text: renderColumns(header, lines, 1) };
}
