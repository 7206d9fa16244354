/**
 * What each writer had merged when it last pushed: the heads named by the
 * signed statements this replica accepted from it (a few of the latest),
 * kept in the attachment's bookkeeping (`wh/<device>`).
 *
 * Used to tell when something is *stable*: once a writer's statement names
 * heads that cover this replica's current heads, every write that writer
 * made before is here, and every later one builds on this state. When
 * that holds for every writer, nothing unseen can still refer to what this
 * state no longer refers to (files whose blocks the sync point may then
 * delete, `./file-transfer.ts`). Keeping an older statement than the
 * latest can only delay that, never allow it early.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import type { PointMeta } from "./layout.js";

const PREFIX = "wh/";
/** Statements kept per writer. */
const KEEP = 4;

/** See the module docs. */
export class WriterHeads {
  readonly #byWriter = new Map<string, CID[][]>();
  readonly #dirty = new Set<string>();

  /** Reads what was kept. */
  async load(meta: PointMeta): Promise<void> {
    for (const key of await meta.list(PREFIX)) {
      const bytes = await meta.get(key);
      if (!bytes) continue;
      try {
        const value = dagCbor.decode(bytes);
        if (Array.isArray(value) && value.every((h) => Array.isArray(h) && h.every((c) => c instanceof CID))) this.#byWriter.set(key.slice(PREFIX.length), value as CID[][]);
      } catch {
        // A damaged record only delays a collection: the writer's next push writes it again.
      }
    }
  }

  /** Notes heads a statement of `writer` (fingerprint) named. */
  note(writer: string, heads: readonly CID[]): void {
    const kept = this.#byWriter.get(writer) ?? [];
    if (kept.some((h) => h.length === heads.length && h.every((c, i) => c.equals(heads[i]!)))) return;
    this.#byWriter.set(writer, [...kept, [...heads]].slice(-KEEP));
    this.#dirty.add(writer);
  }

  /** The heads kept for `writer`, oldest first. */
  of(writer: string): readonly (readonly CID[])[] {
    return this.#byWriter.get(writer) ?? [];
  }

  /** Entries to write with the next bookkeeping write (and forgets that they were due). */
  takeDirty(): Array<readonly [string, Uint8Array]> {
    const out = [...this.#dirty].map((writer) => [PREFIX + writer, dagCbor.encode(this.#byWriter.get(writer)!)] as const);
    this.#dirty.clear();
    return out;
  }
}
