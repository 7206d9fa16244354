/**
 * The terminal demo behind `npm start`: a small to-do ledger on the embedded
 * default (a file store under `./.hearth`), showing writes, a live
 * subscription, queries, the change feed, the state root, and a
 * reopen that finds everything again. Run it twice: the data is still there.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { open } from "./index.node.js";

const home = resolve(process.env.HEARTH_DIR ?? ".hearth");
const storeUrl = pathToFileURL(join(home, "todos")).href;
const keyringUrl = pathToFileURL(join(home, ".keyring")).href;

const say = (text: string): void => console.log(text);
const ms = (start: number): string => `${(performance.now() - start).toFixed(1)} ms`;

async function main(): Promise<void> {
  say(`Hearth demo — ledger "todos" at ${storeUrl}`);
  say(`device keyring at ${keyringUrl}\n`);
  let db = await open("todos", { store: storeUrl, keyring: keyringUrl });
  const before = (await db.allDocs()).rows.length;
  say(`opened: ${before} to-dos already here${before ? " (from an earlier run)" : ""}`);

  const live = db.subscribe((docs) => say(`  live ▸ ${docs.map((d) => ("_deleted" in d ? `${d._id} deleted` : `${d._id} "${String(d.title)}"`)).join(", ")}`));

  say("\nwriting three to-dos, one at a time:");
  const milk = await db.put({ title: "Buy milk", done: false, priority: 2 });
  await db.put({ title: "Fix the bike", done: false, priority: 1 });
  const letter = await db.put({ title: "Post the letter", done: true, priority: 3 });

  say("\nwriting 1,000 more in one bulk commit:");
  live();
  let start = performance.now();
  await db.bulk(Array.from({ length: 1000 }, (_, i) => ({ title: `Chore ${i}`, done: i % 3 === 0, priority: i % 5 })));
  say(`  1,000 docs committed in ${ms(start)} (subscription paused to keep this short)`);
  db.subscribe((docs) => say(`  live ▸ ${docs.map((d) => ("_deleted" in d ? `${d._id} deleted` : `${d._id} "${String(d.title)}"`)).join(", ")}`));

  say("\nmarking the milk done and deleting the letter:");
  await db.put({ ...(await db.get(milk.id)), done: true });
  await db.del(letter.id);

  start = performance.now();
  const open1 = await db.query("done", { key: false, limit: 3, includeDocs: true });
  say(`\nquery done=false (first 3, index built in ${ms(start)}):`);
  for (const row of open1.rows) say(`  ${row.id}  ${String(row.doc?.title)}`);
  const urgent = await db.query((doc, emit) => {
    if (doc.done === false) emit([doc.priority as number, doc.title as string]);
  }, { prefix: [1], limit: 3 });
  say(`map query: open to-dos of priority 1 (first 3): ${urgent.rows.map((r) => JSON.stringify(r.key)).join(", ")}`);

  const changes = await db.changes([], { limit: 3 });
  say(`\nchange feed, first page of 3: ${changes.rows.map((r) => r.key).join(", ")}`);
  say(`  next page from cursor ${JSON.stringify(changes.clock)}: ${(await db.changes(changes.clock, { limit: 2 })).rows.map((r) => r.key).join(", ")}`);

  const root = await db.root();
  say(`\nstate root (equal on every replica with the same writes): ${root}`);
  await db.close();

  start = performance.now();
  db = await open("todos", { store: storeUrl, keyring: keyringUrl });
  const all = await db.allDocs();
  say(`reopened and read ${all.rows.length} to-dos in ${ms(start)}; root unchanged: ${(await db.root()) === root}`);
  await db.close();
  say("\nRun `npm start` again: everything above is still there. Data is encrypted at rest (AES-256-GCM).");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : err);
  process.exit(1);
});
