// The load test's printed report: one column per run (per rate), one row
// per figure, then each run's server request mix and latency over time.

const fmt = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? "–" : typeof x === "number" ? x.toFixed(digits) : String(x));
const int = (x) => (x === undefined || Number.isNaN(x) ? "–" : Math.round(x).toLocaleString("en-US"));
const mb = (kb) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MB` : "–");

/** `hearth serve`, or what a diagnostic variant changes. */
function serverLabel({ fsync, log }) {
  const changes = [!fsync && "no fsync", !log && "no log"].filter(Boolean);
  return changes.length ? `${changes.join(", ")} (diagnostic)` : "hearth serve";
}

/** Rows of the main table: [label, (run) => cell]. */
const ROWS = [
  ["clients × ledgers, workers", (r) => `${r.config.clients} × ${r.config.ledgers}, ${r.config.workers}`],
  ["server", (r) => `${serverLabel(r.config.server)}${r.config.instances > 1 ? ` × ${r.config.instances} instances` : ""}, ${r.config.backend === "s3pg" ? "S3 + PostgreSQL" : "filesystem"}`],
  ["writes/s per client (offered total)", (r) => `${fmt(r.config.rate, 2)} (${int(r.config.rate * r.config.clients)}/s)`],
  ["acknowledged writes (per s)", (r) => r.writes && `${int(r.writes.acked)} (${fmt(r.writes.perSecond)}/s)`],
  ["deliveries seen / expected", (r) => r.deliveries && `${int(r.deliveries.seen)} / ${int(r.deliveries.expected)}`],
  ["deliveries/s while writing", (r) => r.deliveries && fmt(r.deliveries.perSecondWhileWriting)],
  ["write→visible p50 (target < 20 ms)", (r) => r.latency && `${fmt(r.latency.p50)} ms ${r.latency.p50 < 20 ? "ok" : "MISS"}`],
  ["write→visible p95", (r) => r.latency && `${fmt(r.latency.p95)} ms`],
  ["write→visible p99 (target < 100 ms)", (r) => r.latency && `${fmt(r.latency.p99)} ms ${r.latency.p99 < 100 ? "ok" : "MISS"}`],
  ["write→visible max", (r) => r.latency && `${fmt(r.latency.max)} ms`],
  ["p50 / p99 after the first third", (r) => r.latencySteady && `${fmt(r.latencySteady.p50)} / ${fmt(r.latencySteady.p99)} ms`],
  ["settle after writing (synced × 2)", (r) => r.settle && `${int(r.settle.ms)} ms`],
  ["acked writes missing on a client", (r) => r.verify && `${int(r.verify.missing)}${r.verify.missing === 0 ? " (none)" : ""}`],
  ["ledgers whose clients' roots differ", (r) => r.verify && `${int(r.verify.rootsDiffer)}${r.verify.extraRounds ? ` (${r.verify.extraRounds} extra sync rounds)` : ""}`],
  ["server RSS idle → peak (VmHWM; first instance)", (r) => r.server && `${mb(r.server.rssIdleKb)} → ${mb(r.server.hwmKb)}`],
  ["server CPU while writing (% of a core, all instances)", (r) => r.cpu && `${fmt(r.cpu.serverPct, 0)} %`],
  ["client workers CPU (% of a core, sum)", (r) => r.cpu && `${fmt(r.cpu.workersPct, 0)} %`],
  ["machine busy (% of all cores)", (r) => r.cpu && `${fmt(r.cpu.machinePct, 0)} % of ${r.cpu.cores}`],
  ["rest: other jobs, kernel (% of a core)", (r) => r.cpu && `${fmt(r.cpu.othersPct, 0)} %`],
  ["client timer lag p99 / loop delay p99", (r) => r.clients && `${fmt(r.clients.timerLagP99)} / ${fmt(r.clients.loopDelayP99)} ms`],
  ["server requests/s while writing (per write)", (r) => r.server?.requestsPerSecond !== undefined && `${fmt(r.server.requestsPerSecond, 0)} (${fmt(r.server.requestsPerWrite)})`],
  ["server CPU ms per acked write", (r) => r.cpu && fmt(r.cpu.serverMsPerWrite, 2)],
  ["client CPU ms per write or delivery", (r) => r.cpu && fmt(r.cpu.clientMsPerDelivery, 2)],
  ["errors", (r) => int(r.errors.length)],
];

/** Prints the report of `runs` to stdout. */
export function printReport(runs) {
  const header = ["", ...runs.map((r) => `rate ${r.config.rate}/s`)];
  const rows = ROWS.map(([label, cell]) => [label, ...runs.map((r) => cell(r) ?? "–")]);
  const widths = header.map((_, i) => Math.max(header[i].length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const row of rows) console.log(line(row));

  for (const r of runs) {
    console.log(`\nrate ${r.config.rate}/s per client:`);
    const kinds = Object.entries(r.server?.requests?.kinds ?? {});
    if (kinds.length) {
      console.log(`  server requests while writing (count, p50/p99/max ms as the server timed them); ${r.server.requests.total} requests and ${r.server.requests.watchSessions ?? 0} watch sessions in all:`);
      for (const [kind, k] of kinds.slice(0, 10)) console.log(`    ${kind.padEnd(14)} ${int(k.count).padStart(9)}  ${fmt(k.p50)}/${fmt(k.p99)}/${fmt(k.max)}`);
    }
    if (r.writer) {
      console.log(`  writer: put() resolved p50/p99 ${fmt(r.writer.putMs.p50)}/${fmt(r.writer.putMs.p99)} ms; pushed (announcement stored) p50/p99 ${fmt(r.writer.pushedMs.p50)}/${fmt(r.writer.pushedMs.p99)} ms after the write`);
      const kinds = Object.entries(r.clientRequests ?? {}).slice(0, 8);
      console.log(`  requests as the clients timed them (whole run, until response headers), p50/p99 ms: ${kinds.map(([k, x]) => `${k} ${fmt(x.p50)}/${fmt(x.p99)}`).join(", ")}`);
    }
    if (r.series?.length) {
      const chunks = [];
      for (let s = 0; s < r.series.length; s += 5) {
        const part = r.series.slice(s, s + 5);
        const p99 = Math.max(...part.map((x) => (Number.isNaN(x.p99) ? 0 : x.p99)));
        const p50 = part.map((x) => x.p50).filter((x) => !Number.isNaN(x));
        chunks.push(`${s}-${s + part.length}s ${p50.length ? Math.max(...p50).toFixed(0) : "–"}/${p99.toFixed(0)}`);
      }
      console.log(`  latency over time (worst per-second p50/p99 in each 5 s, ms): ${chunks.join(", ")}`);
    }
    for (const e of r.errors.slice(0, 10)) console.log(`  error: ${e}`);
    if (r.errors.length > 10) console.log(`  … ${r.errors.length - 10} more errors in the JSON`);
  }
}
