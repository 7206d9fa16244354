/**
 * The types Fireproof apps import, in the shapes `@fireproof/core` gives
 * them (0.20–0.24), so that `import type { DocWithId } from
 * "@fireproof/core"` compiles unchanged against this package.
 *
 * @module
 */
import type { DocFile, JsonValue, Remote } from "@hearth/core";

/** Fields every document may have. */
export interface DocBase {
  readonly _id?: string;
  _files?: DocFiles;
  _publicFiles?: DocFiles;
  _deleted?: boolean;
}

/** A document as stored and read: its fields, and its `_id`. */
export type DocWithId<T extends object = Record<string, unknown>> = T & DocBase & { _id: string };

/** A document as written: `_id` may be missing (one is generated). */
export type DocSet<T extends object = Record<string, unknown>> = T & DocBase;

/** What `_files` holds on a document read back. */
export interface DocFileMeta extends DocFile {
  /** Fireproof names the CAR file that holds the file; here files live in chunks, and this is the file's CID. */
  readonly car: string;
}

/** A document's files by name: content to store (`File`, `Blob`, `Uint8Array`, `ReadableStream`) or a file read back. */
export type DocFiles = Record<string, DocFileMeta | File | Blob | Uint8Array | ReadableStream<Uint8Array> | null>;

/** The clock: the heads of the ledger (strings of CIDs). */
export type ClockHead = string[];

/** What `put` and `del` resolve to. */
export interface DocResponse {
  readonly id: string;
  readonly clock: ClockHead;
  readonly name: string;
}

/** What `bulk` resolves to. */
export interface BulkResponse {
  readonly ids: string[];
  readonly clock: ClockHead;
  readonly name: string;
}

/** Selection options of `allDocs` (all honoured here, unlike Fireproof, which honours only `limit` and `includeDeleted`). */
export interface AllDocsQueryOpts {
  key?: string;
  keys?: string[];
  prefix?: string;
  range?: [string, string];
  descending?: boolean;
  limit?: number;
  includeDeleted?: boolean;
}

/** A row of `allDocs` or `changes`. */
export interface DocRow<T extends object = Record<string, unknown>> {
  readonly key: string;
  readonly value: DocWithId<T>;
}

/** What `allDocs` resolves to. */
export interface AllDocsResponse<T extends object = Record<string, unknown>> {
  readonly rows: Array<DocRow<T>>;
  readonly clock: ClockHead;
  readonly name: string;
}

/** Options of `changes`. */
export interface ChangesOptions {
  /** The most recently changed `limit` documents (as Fireproof counts it). */
  limit?: number;
}

/** What `changes` resolves to. */
export interface ChangesResponse<T extends object = Record<string, unknown>> {
  readonly rows: Array<DocRow<T>>;
  readonly clock: ClockHead;
  readonly name: string;
}

/** Options of `query`. */
export interface QueryOpts<K = JsonValue> {
  key?: K;
  keys?: K[];
  /** An array key's leading items; a single value `p` means `[p]` (as in Fireproof). */
  prefix?: K | K[];
  range?: [K, K];
  descending?: boolean;
  limit?: number;
  /** Default true (as in Fireproof): rows carry `doc`, and the result has `docs`. */
  includeDocs?: boolean;
}

/** A row of `query`. */
export interface IndexRow<K = JsonValue, T extends object = Record<string, unknown>, R = JsonValue> {
  readonly id: string;
  readonly key: K;
  readonly value: R;
  readonly doc?: DocWithId<T>;
}

/** Fireproof's name for {@link IndexRow}. */
export type FPIndexRow<K = JsonValue, T extends object = Record<string, unknown>, R = JsonValue> = IndexRow<K, T, R>;

/** What `query` resolves to (`docs` only with `includeDocs`, the default). */
export interface IndexRows<K = JsonValue, T extends object = Record<string, unknown>, R = JsonValue> {
  readonly rows: Array<IndexRow<K, T, R>>;
  readonly docs?: Array<DocWithId<T>>;
}

/** A map function: `emit(key, value?)`, or return a key. */
export type MapFn<T extends object = Record<string, unknown>> = (doc: DocWithId<T>, emit: (key: JsonValue, value?: JsonValue) => void) => unknown;

/** A `subscribe` listener: the changed documents (with `updates`), or `[]`. */
export type ListenerFn<T extends object = Record<string, unknown>> = (docs: Array<DocWithId<T>>) => void | Promise<void>;

/**
 * Options of `fireproof(name, opts)`. Hearth's own (`store`, `keyring`,
 * `durability`, `cacheBytes`) are used; Fireproof's (`storeUrls`,
 * `keyBag`, `writeQueue`, …) are accepted and ignored.
 */
export interface ConfigOpts {
  store?: string;
  keyring?: string;
  durability?: "process" | "fsync";
  cacheBytes?: number;
  readonly [fireproofOption: string]: unknown;
}

/** What `attach` takes: a Hearth sync point URL or remote. */
export type Attachable = string | Remote;
