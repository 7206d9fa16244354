// Numbers of the load test: nearest-rank percentiles over every
// (writer, reader) sample, and the per-second series that shows whether
// latency holds steady or climbs (a queue building up) during the run.

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** p50/p95/p99/max (and count) of the given samples. */
export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

/** Concatenates typed arrays. */
export function concat(arrays) {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/**
 * Deliveries per second of the run with their p50/p99 latency, by when the
 * reader saw the write (`seenAt`, ms after the write phase began).
 */
export function perSecond(latencies, seenAt, seconds) {
  const buckets = new Map();
  for (let i = 0; i < latencies.length; i++) {
    const s = Math.floor(seenAt[i] / 1000);
    if (s < 0) continue;
    let b = buckets.get(s);
    if (!b) buckets.set(s, (b = []));
    b.push(latencies[i]);
  }
  const last = Math.max(seconds - 1, ...buckets.keys());
  const rows = [];
  for (let s = 0; s <= last; s++) {
    const sorted = Float64Array.from(buckets.get(s) ?? []).sort();
    rows.push({ second: s, deliveries: sorted.length, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)) });
  }
  return rows;
}

/** Rounds to `digits` decimals (NaN stays NaN). */
export function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
