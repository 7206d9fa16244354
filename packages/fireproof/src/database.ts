/**
 * `fireproof(name)`: a Fireproof database on a Hearth ledger.
 *
 * What matches Fireproof (as its source shows it, 0.20–0.24):
 * - `fireproof(name)` returns at once; every method waits for the ledger
 *   to open. Two calls with one name are two handles on one ledger (core's
 *   handles): writes and subscriptions are shared, each `close()` closes
 *   its own handle, and the ledger closes with the last one. `destroy()`
 *   works after `close()`.
 * - Result shapes: `put`/`del`/`remove` → `{ id, clock, name }`, `bulk` →
 *   `{ ids, clock, name }`, `allDocs`/`changes` → `{ rows, clock, name }`,
 *   `query` → `{ rows, docs }` with `includeDocs` true by default (no
 *   `docs` with `includeDocs: false`), `subscribe(fn, updates)` → an
 *   unsubscribe function, `fn` getting the changed documents with
 *   `updates` and `[]` without. A missing document is `NotFoundError`
 *   (`code: "ENOENT"`, "Not found: <id>").
 * - `Uint8Array` fields at any depth; `_files` from `File`s, with
 *   `{ type, size, cid, car, lastModified, file() }` read back.
 *
 * Where Fireproof's behaviour is a bug, this does the right thing (the
 * package README lists each difference): `allDocs` honours `key`, `keys`,
 * `prefix`, `range` and `descending`; a `query` `key` of `0`, `""` or
 * `null` selects that key; `limit: 0` is no rows; `emit(k, 0)` keeps 0;
 * subscriptions fire for writes that arrive by sync (Hearth's `subscribe`
 * covers merges); a deleted document reaches `subscribe(fn, true)` as
 * `{ _id, _deleted: true }`; `file()` keeps the file's name; a file not
 * here yet is fetched from the sync point instead of failing "car not
 * ready".
 *
 * @module
 */
import { isHearthError, open, type Doc, type DocFile, type DocInput, type Ledger, type OpenOptions } from "@hearth/core";
import { NotFoundError } from "./errors.js";
import { allDocsOptions, queryOptions } from "./options.js";
import type {
  AllDocsQueryOpts,
  AllDocsResponse,
  Attachable,
  BulkResponse,
  ChangesOptions,
  ChangesResponse,
  ConfigOpts,
  DocFileMeta,
  DocResponse,
  DocSet,
  DocWithId,
  IndexRows,
  ListenerFn,
  MapFn,
  QueryOpts,
} from "./types.js";

/**
 * Opens (lazily) the Fireproof database `name`: returns at once, and every
 * method waits for the ledger to open.
 *
 * @example
 * ```ts
 * const db = fireproof("todos");
 * const { id } = await db.put({ title: "milk" });
 * const doc = await db.get(id);
 * ```
 */
export function fireproof(name: string, opts: ConfigOpts = {}): Database {
  return new Database(name, opts);
}

/** True for a database made by {@link fireproof}. */
export function isDatabase(value: unknown): value is Database {
  return value instanceof Database;
}

/** See the module docs. */
export class Database {
  readonly #name: string;
  readonly #opts: OpenOptions;
  readonly #opening: Promise<Ledger>;
  #closed: Promise<void> | undefined;

  constructor(name: string, opts: ConfigOpts = {}) {
    this.#name = name;
    this.#opts = openOptions(opts);
    this.#opening = open(name, this.#opts);
    this.#opening.catch(() => undefined); // reported by the first call that needs it
  }

  /** The database's name. */
  get name(): string {
    return this.#name;
  }

  /** Resolves once the ledger is open (methods wait for it themselves). */
  async ready(): Promise<void> {
    await this.#ledger();
  }

  /** The Hearth ledger handle under this database (for `@hearth/react` or Hearth's own API). */
  hearth(): Promise<Ledger> {
    return this.#ledger();
  }

  /** Writes a document (a new `_id` if it has none); resolves once durable. */
  async put<T extends object>(doc: DocSet<T>): Promise<DocResponse> {
    const db = await this.#ledger();
    const { id, clock } = await db.put(doc as unknown as DocInput);
    return { id, clock, name: this.#name };
  }

  /** Writes documents in one commit. */
  async bulk<T extends object>(docs: Array<DocSet<T>>): Promise<BulkResponse> {
    const db = await this.#ledger();
    const { ids, clock } = await db.bulk(docs as unknown as DocInput[]);
    return { ids, clock, name: this.#name };
  }

  /**
   * Reads a document.
   * @throws NotFoundError if it does not exist or was deleted; `Error("Doc id is required")` for an empty id
   */
  async get<T extends object = Record<string, unknown>>(id: string): Promise<DocWithId<T>> {
    if (!id) throw new Error("Doc id is required");
    const db = await this.#ledger();
    try {
      return toFireproofDoc(await db.get(id)) as DocWithId<T>;
    } catch (err) {
      if (isHearthError(err, "NOT_FOUND")) throw new NotFoundError(id, { cause: err });
      throw err;
    }
  }

  /** Deletes a document (a document that never existed too, as in Fireproof). */
  async del(id: string): Promise<DocResponse> {
    const db = await this.#ledger();
    const { clock } = await db.del(id);
    return { id, clock, name: this.#name };
  }

  /** Fireproof's other name for {@link del}. */
  remove(id: string): Promise<DocResponse> {
    return this.del(id);
  }

  /** Documents by id; every selection option is honoured (Fireproof honours only `limit` and `includeDeleted`). */
  async allDocs<T extends object = Record<string, unknown>>(opts: AllDocsQueryOpts = {}): Promise<AllDocsResponse<T>> {
    const db = await this.#ledger();
    const { rows, clock } = await db.allDocs(allDocsOptions(opts));
    return { rows: rows.map((r) => ({ key: r.key, value: toFireproofDoc(r.value) as DocWithId<T> })), clock, name: this.#name };
  }

  /** Fireproof's deprecated name for {@link allDocs}. */
  allDocuments<T extends object = Record<string, unknown>>(opts: AllDocsQueryOpts = {}): Promise<AllDocsResponse<T>> {
    return this.allDocs<T>(opts);
  }

  /**
   * The documents changed since `since` (a clock from an earlier result),
   * oldest first, each once; `limit` keeps the most recently changed.
   */
  async changes<T extends object = Record<string, unknown>>(since: string[] = [], opts: ChangesOptions = {}): Promise<ChangesResponse<T>> {
    const db = await this.#ledger();
    const rows: ChangesResponse<T>["rows"] = [];
    let clock = since;
    for (;;) {
      const page = await db.changes(clock, { limit: 1_000 });
      for (const r of page.rows) rows.push({ key: r.key, value: toFireproofDoc(r.value) as DocWithId<T> });
      clock = page.clock;
      if (page.rows.length < 1_000) break;
    }
    const limited = opts.limit !== undefined && opts.limit >= 0 ? rows.slice(Math.max(0, rows.length - opts.limit)) : rows;
    return { rows: limited, clock, name: this.#name };
  }

  /** Rows of an index by field or map function (built on first use, then kept current). */
  async query<T extends object = Record<string, unknown>>(field: string | MapFn<T>, opts: QueryOpts = {}): Promise<IndexRows<never, T>> {
    const db = await this.#ledger();
    const options = queryOptions(opts);
    const { rows } = await db.query(field as Parameters<Ledger["query"]>[0], options);
    const out = rows.map((r) => ({ id: r.id, key: r.key as never, value: r.value, ...(r.doc && { doc: toFireproofDoc(r.doc) as DocWithId<T> }) }));
    return options.includeDocs ? { rows: out, docs: out.flatMap((r) => (r.doc ? [r.doc] : [])) } : { rows: out };
  }

  /**
   * Calls `fn` after every commit, local or arrived by sync: with the
   * changed documents when `updates` is true, with `[]` otherwise.
   * Returns the function that stops it. A listener that throws is logged.
   */
  subscribe<T extends object = Record<string, unknown>>(fn: ListenerFn<T>, updates = false): () => void {
    let stop: (() => void) | undefined;
    let stopped = false;
    this.#ledger().then(
      (db) => {
        if (stopped) return;
        stop = db.subscribe((docs) => {
          try {
            const result = fn(updates ? (docs.map(toFireproofDoc) as Array<DocWithId<T>>) : []);
            if (result instanceof Promise) result.catch((err: unknown) => console.error("fireproof: a subscriber failed", err));
          } catch (err) {
            console.error("fireproof: a subscriber failed", err);
          }
        });
      },
      () => undefined,
    );
    return () => {
      stopped = true;
      stop?.();
    };
  }

  /** Deletes the files no document refers to any more, and lets the store compact. */
  async compact(): Promise<void> {
    await (await this.#ledger()).compact();
  }

  /** Syncs with a Hearth sync point (`http(s)://…`, `file:///…`, `memory://…`, or a remote). */
  async attach(target: Attachable): Promise<Awaited<ReturnType<Ledger["attach"]>>> {
    return (await this.#ledger()).attach(target);
  }

  /** Closes this handle (the ledger stays open for the others). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#opening.then((db) => db.close(), () => undefined);
    return this.#closed;
  }

  /** Deletes every document and file of the database, here; allowed after `close()`. */
  async destroy(): Promise<void> {
    if (this.#closed) {
      await this.#closed;
      const again = await open(this.#name, this.#opts);
      await again.destroy();
      return;
    }
    this.#closed = Promise.resolve();
    await (await this.#opening).destroy();
  }

  async #ledger(): Promise<Ledger> {
    if (this.#closed) throw new Error(`fireproof database ${JSON.stringify(this.#name)} is closed; call fireproof(name) again`);
    return this.#opening;
  }
}

function openOptions(opts: ConfigOpts): OpenOptions {
  const out: OpenOptions = {};
  if (typeof opts.store === "string") out.store = opts.store;
  if (typeof opts.keyring === "string") out.keyring = opts.keyring;
  if (opts.durability !== undefined) out.durability = opts.durability;
  if (typeof opts.cacheBytes === "number") out.cacheBytes = opts.cacheBytes;
  return out;
}

/** A Hearth document in Fireproof's shape: each file also carries `car`. */
export function toFireproofDoc(doc: Doc | { _id: string; _deleted: true }): DocWithId {
  const files = (doc as Doc)._files;
  if (files === undefined) return doc as DocWithId;
  const out: Record<string, DocFileMeta> = {};
  for (const [name, file] of Object.entries(files)) out[name] = withCar(file);
  return { ...(doc as DocWithId), _files: out };
}

function withCar(file: DocFile): DocFileMeta {
  return {
    type: file.type,
    size: file.size,
    cid: file.cid,
    car: file.cid,
    ...(file.lastModified !== undefined && { lastModified: file.lastModified }),
    file: () => file.file(),
    stream: () => file.stream(),
  };
}
