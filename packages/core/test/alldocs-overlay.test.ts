import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { open } from "../src/index.node.js";

// allDocs reads the state tree and the not-yet-folded overlay together.
// root() folds the state tree, so interleaving it with writes puts documents
// in every mix of "in the tree", "only in the overlay" and "in both, changed".
type Step = { kind: "put"; id: string; v: number } | { kind: "del"; id: string } | { kind: "fold" };

const ids = ["a", "b", "ba", "bb", "c", "ca", "d", "e"];
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("put" as const), id: fc.constantFrom(...ids), v: fc.integer({ min: 0, max: 99 }) }),
  fc.record({ kind: fc.constant("del" as const), id: fc.constantFrom(...ids) }),
  fc.constant({ kind: "fold" as const }),
);

describe("allDocs over tree and overlay", () => {
  it("matches a reference model for every selection option", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), fc.constantFrom(...ids), fc.constantFrom(...ids), async (steps, x, y) => {
        const name = `overlay-${++run}-${Math.random()}`;
        const db = await open(name, { store: `memory://${name}`, keyring: `memory://${name}` });
        try {
          const model = new Map<string, number | null>();
          for (const s of steps) {
            if (s.kind === "put") {
              await db.put({ _id: s.id, v: s.v });
              model.set(s.id, s.v);
            } else if (s.kind === "del") {
              await db.del(s.id);
              model.set(s.id, null);
            } else {
              await db.root();
            }
          }
          const live = [...model.entries()].filter(([, v]) => v !== null).map(([k]) => k).sort();
          const all = [...model.keys()].sort();
          const [lo, hi] = x <= y ? [x, y] : [y, x];
          const keys = async (o: Parameters<typeof db.allDocs>[0]) => (await db.allDocs(o)).rows.map((r) => r.key);
          expect(await keys({})).toEqual(live);
          expect(await keys({ descending: true })).toEqual([...live].reverse());
          expect(await keys({ includeDeleted: true })).toEqual(all);
          expect(await keys({ prefix: "b" })).toEqual(live.filter((k) => k.startsWith("b")));
          expect(await keys({ prefix: "c", descending: true })).toEqual(live.filter((k) => k.startsWith("c")).reverse());
          expect(await keys({ range: [lo, hi] })).toEqual(live.filter((k) => k >= lo && k <= hi));
          expect(await keys({ range: [lo, hi], descending: true, limit: 2 })).toEqual(live.filter((k) => k >= lo && k <= hi).reverse().slice(0, 2));
          expect(await keys({ keys: [y, x] })).toEqual([y, x].filter((k) => model.get(k) != null));
          for (const row of (await db.allDocs()).rows) expect(row.value).toEqual({ _id: row.key, v: model.get(row.key) });
          for (const row of (await db.allDocs({ includeDeleted: true, descending: true })).rows) {
            const v = model.get(row.key);
            expect(row.value).toEqual(v === null ? { _id: row.key, _deleted: true } : { _id: row.key, v });
          }
        } finally {
          await db.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
