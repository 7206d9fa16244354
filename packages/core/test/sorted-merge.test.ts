import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunksOf, mergeNewestFirst, type SortedChunks } from "../src/ledger/sorted-merge.js";

/** `entries` (sorted, unique keys) as chunks of `size`. */
function chunked(entries: ReadonlyArray<readonly [string, unknown]>, size: number): SortedChunks {
  let at = 0;
  return async () => {
    if (at >= entries.length) return undefined;
    const chunk = entries.slice(at, at + size);
    at += size;
    return chunk;
  };
}

describe("mergeNewestFirst", () => {
  it("takes every key once, in order, with its newest source's value, and skips keys whose newest value is a deletion", async () => {
    const source = fc
      .uniqueArray(fc.tuple(fc.string({ maxLength: 3 }), fc.option(fc.integer(), { nil: undefined })), { selector: ([key]) => key, maxLength: 60 })
      .map((entries) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await fc.assert(
      fc.asyncProperty(fc.array(source, { maxLength: 4 }), fc.integer({ min: 1, max: 7 }), async (sources, size) => {
        const expected = new Map<string, unknown>();
        // Oldest first, so newer sources overwrite.
        for (const entries of [...sources].reverse()) for (const [key, value] of entries) expected.set(key, value);
        const want = [...expected].filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
        const got: Array<[string, unknown]> = [];
        await mergeNewestFirst(
          sources.map((entries, i) => (i === 0 ? chunksOf(entries) : chunked(entries, size))),
          (key, value) => {
            got.push([key, value]);
            // Sometimes asynchronous, as a tree writer is when it has to wait.
            return key.length === 2 ? Promise.resolve() : undefined;
          },
        );
        expect(got).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("reads nothing from no sources and from empty ones", async () => {
    const got: string[] = [];
    await mergeNewestFirst([], (key) => void got.push(key));
    await mergeNewestFirst([chunksOf([]), async () => undefined], (key) => void got.push(key));
    expect(got).toEqual([]);
  });
});
