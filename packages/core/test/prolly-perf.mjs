// Scratch measurement of the prolly tree (not a test: no assertions, no timing gates).
// Run from packages/core: `node test/prolly-perf.mjs` (bundles the TypeScript with esbuild first).
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = mkdtempSync(join(tmpdir(), "prolly-perf-"));
const out = join(dir, "prolly.mjs");
await build({
  entryPoints: [new URL("../src/crdt/prolly.ts", import.meta.url).pathname],
  bundle: true, format: "esm", platform: "node", outfile: out, logLevel: "error",
});
const { ProllyTree } = await import(pathToFileURL(out).href);
rmSync(dir, { recursive: true, force: true });

const nodes = new Map();
const source = { load: (cid) => nodes.get(cid.toString()) };
const keep = (created) => { for (const b of created) nodes.set(b.cid.toString(), b.value); };
const value = (i) => ({ _id: `doc-${i}`, title: `todo number ${i}`, done: i % 3 === 0, tags: ["a", "b"], body: "x".repeat(80) });
const key = (i) => `doc-${String(i).padStart(8, "0")}`;
const entries = Array.from({ length: 10_000 }, (_, i) => [key(i), value(i)]);

const time = async (label, runs, fn) => {
  for (let i = 0; i < Math.min(runs, 20); i++) await fn(i); // warm up
  // CPU time as well as wall time: on a shared machine the wall clock also counts other processes.
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < runs; i++) await fn(i);
  const used = process.cpuUsage(cpu);
  const show = (ms) => (ms >= 1 ? ms.toFixed(2) + " ms" : (ms * 1000).toFixed(2) + " µs");
  console.log(`${label.padEnd(40)} wall ${show((performance.now() - t) / runs).padStart(10)}   cpu ${show((used.user + used.system) / 1000 / runs).padStart(10)}`);
};

console.log("value bytes ≈", JSON.stringify(value(1)).length);
let tree;
await time("build 10,000 entries", 10, async () => { const r = await ProllyTree.build("docs", entries, source); keep(r.created); tree = r.tree; });
let n = 0; for await (const _ of tree.nodes()) n++;
console.log("nodes", n);
await time("get (warm, 10k)", 200_000, (i) => tree.get(key((i * 7919) % 10_000)));
await time("get missing (warm, 10k)", 100_000, (i) => tree.get(`nope-${i}`));
await time("mutate 1 key (overwrite, warm, 10k)", 5_000, async (i) => {
  const r = await tree.mutate([[key((i * 7919) % 10_000), value(i + 1)]]); keep(r.created);
});
await time("mutate 1 key (insert, warm, 10k)", 5_000, async (i) => {
  const r = await tree.mutate([[`${key((i * 7919) % 10_000)}-new`, value(i)]]); keep(r.created);
});
await time("mutate 1,000-key batch (warm, 10k)", 50, async (i) => {
  const changes = [];
  for (let j = 0; j < 1000; j++) changes.push([key(j * 10 + (i % 10)), value(i + j)]);
  const r = await tree.mutate(changes); keep(r.created);
});
await time("entries() full scan, 10k", 50, async () => { for await (const _ of tree.entries()); });
await time("count(), 10k", 50, () => tree.count());
