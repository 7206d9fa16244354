/**
 * Secondary indexes for `query`: sorted trees from emitted keys to
 * documents, kept up to date incrementally from the local change feed, and
 * persisted with each checkpoint.
 *
 * An index is identified by name: `field:<name>` for a field, the map
 * function's source for an anonymous function, or the `index` option. Each
 * index remembers its source; when a named index's function changes, the
 * index is rebuilt from scratch, so a query never mixes old and new keys.
 *
 * Index tree keys: `k<encodedKey><docId>` → `{k, v, i}` for each emitted row,
 * and `r<docId>` → the `k…` keys that document emitted, so a changed
 * document's old rows can be removed without scanning.
 *
 * @module
 */
import type { CID } from "multiformats/cid";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { ProllyTree } from "../crdt/prolly.js";
import { isPromiseLike } from "../crdt/prolly-node.js";
import { HearthError } from "../errors.js";
import { normalizeDoc, type DocBody, type JsonValue } from "../doc/normalize.js";
import { encodeKey } from "./collate.js";
import type { IndexCheckpoint, LedgerState } from "./state.js";
import { cloneJson } from "./clone.js";
import type { Doc } from "./types.js";
import { local } from "./keys.js";
import type { NodeCache } from "./node-cache.js";

/** Emits one index row: `key` (any JSON value) and an optional `value` (default null). */
export type EmitFn = (key: JsonValue, value?: JsonValue) => void;

/**
 * A map function. Call `emit` any number of times, or return a key (the row's
 * value is then null). Returning `undefined` without emitting indexes nothing.
 */
export type MapFn = (doc: Doc & Record<string, JsonValue>, emit: EmitFn) => unknown;

/** A stored row of an index tree. */
export interface IndexRow {
  readonly k: JsonValue;
  readonly v: JsonValue;
  readonly i: string;
}

interface IndexDef {
  readonly name: string;
  readonly src: string;
  /** Rows for one live document. Field indexes read the body as is; map functions get a copy. */
  readonly map: (id: string, body: DocBody) => Array<[JsonValue, JsonValue]>;
}

interface LiveIndex {
  readonly def: IndexDef;
  tree: ProllyTree;
  seq: number;
  /** Root as of the last checkpoint (undefined: never checkpointed). */
  stored: CID | undefined;
}

/** Describes the index for `spec`; see the module docs for naming. */
export function describeIndex(spec: string | MapFn, name?: string): IndexDef {
  if (typeof spec === "string") {
    if (spec.length === 0) throw new TypeError("query field name must not be empty");
    const field = spec;
    return {
      name: name ?? `field:${field}`,
      src: `field:${field}`,
      map: (id, body) => {
        const value = field === "_id" ? id : body[field];
        return value === undefined ? [] : [[value, null]];
      },
    };
  }
  if (typeof spec !== "function") throw new TypeError("query needs a field name or a map function");
  const src = spec.toString();
  return { name: name ?? `map:${src}`, src: `map:${src}`, map: (id, body) => runMap(spec, id, body) };
}

// The function gets its own copy, so it cannot alter the ledger's state.
function runMap(fn: MapFn, id: string, body: DocBody): Array<[JsonValue, JsonValue]> {
  const rows: Array<[JsonValue, JsonValue]> = [];
  let returned: unknown;
  try {
    returned = fn({ _id: id, ...cloneJson(body) }, (key, value) => {
      rows.push([checkEmitted(key, id, "key"), checkEmitted(value ?? null, id, "value")]);
    });
  } catch (cause) {
    if (cause instanceof HearthError) throw cause;
    throw new HearthError("INVALID_ARGUMENT", `the map function threw on document ${JSON.stringify(id)}; fix the function (it must handle every document)`, { cause });
  }
  if (rows.length === 0 && returned !== undefined) rows.push([checkEmitted(returned, id, "key"), null]);
  return rows;
}

function checkEmitted(value: unknown, id: string, what: string): JsonValue {
  try {
    return normalizeDoc({ x: value }).body.x ?? null;
  } catch (cause) {
    throw new HearthError("INVALID_ARGUMENT", `the map function emitted a ${what} that is not JSON for document ${JSON.stringify(id)}`, { cause });
  }
}

/** The live indexes of one ledger. */
export class Indexes {
  readonly #nodes: NodeCache;
  readonly #live = new Map<string, LiveIndex>();
  /** Checkpointed indexes not opened this session; carried into the next checkpoint untouched. */
  readonly #dormant = new Map<string, IndexCheckpoint>();

  constructor(nodes: NodeCache, checkpointed: Record<string, IndexCheckpoint>) {
    this.#nodes = nodes;
    for (const [name, ix] of Object.entries(checkpointed)) this.#dormant.set(name, ix);
  }

  /**
   * The index for `def`, brought up to date with `state` (whose trees must
   * be folded), and how many changes that took in. Builds it on first use
   * or when its function changed.
   */
  async ready(def: IndexDef, state: LedgerState): Promise<{ tree: ProllyTree; caughtUp: number }> {
    let ix = this.#live.get(def.name);
    if (ix && ix.def.src !== def.src) ix = undefined;
    if (!ix) {
      const dormant = this.#dormant.get(def.name);
      const reuse = dormant && dormant.src === def.src;
      const stored = dormant?.root;
      let tree: ProllyTree;
      if (reuse) {
        tree = ProllyTree.open(tagOf(def.name), dormant.root, this.#nodes);
      } else {
        const empty = await ProllyTree.empty(tagOf(def.name), this.#nodes);
        this.#nodes.addPending(empty.created);
        tree = empty.tree;
      }
      ix = { def, tree, seq: reuse ? dormant.seq : 0, stored: stored ?? this.#live.get(def.name)?.stored };
      this.#dormant.delete(def.name);
      this.#live.set(def.name, ix);
    }
    const caughtUp = ix.seq < state.seq ? state.seq - ix.seq : 0;
    if (caughtUp > 0) await this.#catchUp(ix, state);
    return { tree: ix.tree, caughtUp };
  }

  async #catchUp(ix: LiveIndex, state: LedgerState): Promise<void> {
    const fresh = ix.seq === 0;
    const changes = new Map<string, unknown>();
    for await (const batch of state.localTree.batches({ gte: local.change(ix.seq + 1), lt: local.CHANGE_END })) {
      for (let b = 0; b < batch.keys.length; b++) {
        const id = batch.value(b) as string;
        const before = fresh ? undefined : ((await ix.tree.get(`r${id}`)) as string[] | undefined);
        for (const k of before ?? []) changes.set(k, undefined);
        const found = state.registerNow(id);
        const register = isPromiseLike(found) ? await found : found;
        const rows = register && register.w.d !== null ? ix.def.map(id, register.w.d) : [];
        const keys: string[] = [];
        for (const [k, v] of rows) {
          const treeKey = `k${encodeKey(k)}${id}`;
          keys.push(treeKey);
          changes.set(treeKey, { k, v, i: id } satisfies IndexRow);
        }
        changes.set(`r${id}`, keys.length > 0 ? keys : undefined);
      }
    }
    if (changes.size > 0) {
      const sorted = [...changes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const { tree, created } = await ix.tree.mutate(sorted);
      this.#nodes.addPending(created);
      ix.tree = tree;
    }
    ix.seq = state.seq;
  }

  /** Every index as it should be recorded in the next checkpoint, with the root last stored. */
  snapshot(): Array<{ name: string; entry: IndexCheckpoint; stored: CID | undefined; current: CID }> {
    const out: Array<{ name: string; entry: IndexCheckpoint; stored: CID | undefined; current: CID }> = [];
    for (const [name, ix] of this.#dormant) out.push({ name, entry: ix, stored: ix.root, current: ix.root });
    for (const [name, ix] of this.#live) {
      out.push({ name, entry: { src: ix.def.src, seq: ix.seq, root: ix.tree.root }, stored: ix.stored, current: ix.tree.root });
    }
    return out;
  }

  /** Marks every live index's current root as stored (after a checkpoint). */
  markStored(): void {
    for (const ix of this.#live.values()) ix.stored = ix.tree.root;
  }
}

// Names can be whole function sources; every node carries its tag, so hash it.
function tagOf(name: string): string {
  return `hearth/index/1/${bytesToHex(sha256(new TextEncoder().encode(name)).subarray(0, 12))}`;
}
