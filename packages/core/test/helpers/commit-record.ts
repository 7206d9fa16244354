/**
 * Test helpers for the file store's commit record: making a store look as
 * a crash would have left it.
 */
import { CommitFile } from "../../src/store/file-commit.js";

/**
 * Rewrites the commit record of the (closed) store in `dir` as a crash
 * between appending the records past byte `end` and recording them would
 * have left it: those records become an unacknowledged tail, which an open
 * may cut off if it is torn.
 */
export function unacknowledgeFrom(dir: string, end: number): void {
  const found = CommitFile.read(dir);
  if (found === undefined || found === "damaged") throw new Error(`no usable commit record in ${dir}`);
  const file = CommitFile.open(dir);
  try {
    file.write({ ...found, ackedEnd: end, durableEnd: Math.min(found.durableEnd, end) });
  } finally {
    file.close();
  }
}
