/**
 * A ledger's files: writing them in chunks, reading them back as streams,
 * fetching the blocks this device lacks from the sync points it is attached
 * to, and the bookkeeping the transfers (`sync/file-transfer.ts`) work from.
 *
 * In the store under the ledger's encryption layer (blocks are sealed under
 * their own keys, named by their hash and checked against it on every read):
 * - `fb/<cid>`   a block (chunk or manifest), exactly as every sync point stores it (`./blocks.ts`)
 *
 * In the ledger's (encrypted) store:
 * - `fr/<cid>`   a file whose blocks are all here, by manifest CID; value: the manifest key
 * - `fw/<cid>`   a file a document here refers to whose blocks are not all here yet; value: the manifest key
 * - `fg/<cid>`   a file nothing here refers to any more, whose blocks a sync point still holds: its
 *                manifest stays (to name the blocks to delete there) until every such point is collected
 * - `fs`         this device's file secret (the chunk keys' derivation key)
 *
 * Memory: writing reads, seals and stores one chunk at a time; a stream
 * reads one chunk ahead of its consumer. Neither ever holds a whole file.
 *
 * Portable.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import type { DocBody } from "../doc/normalize.js";
import type { AeadCipher } from "../crypto/cipher.js";
import type { ByteStore, Durability } from "../store/types.js";
import { checkBlock, CHUNK_BYTES, MAX_FILE_BYTES, openChunk, openManifest, sealManifest, type ChunkRef, type Manifest, type SealedChunk } from "./blocks.js";
import { inlineSealer, type ChunkSealer } from "./chunk-sealer.js";
import { chunksOf, inputInfo, sizeOf, type FileInput } from "./input.js";
import { WriteWindow } from "./write-window.js";
import { encodeStoredFile, FILES_FIELD, storedFiles, type FilesPatch, type FilesRequest, type StoredFile } from "./meta.js";

/** Store key prefix of blocks. */
export const BLOCK_PREFIX = "fb/";
/** Store key prefix of files held whole. */
export const HELD_PREFIX = "fr/";
/** Store key prefix of files wanted. */
export const WANTED_PREFIX = "fw/";
/** Store key prefix of files gone here but still held by a sync point. */
export const GONE_PREFIX = "fg/";
const SECRET_KEY = "fs";
/** Keys deleted per store write while collecting. */
const COLLECT_SLICE = 1_000;
const SECRET_BYTES = 32;
/** Block writes handed to the store at once while a file is written (each holds a chunk). */
const WRITES_IN_FLIGHT = 4;
/** Chunks being sealed at once while a file is written (each holds a chunk and its block). */
const SEALS_IN_FLIGHT = 3;
/** Files from this size on are sealed by the platform's large-file sealer, if it has one. */
const LARGE_FILE_BYTES = 4 * CHUNK_BYTES;

/** A place blocks this device lacks can come from: an attachment's sync point. */
export interface BlockSource {
  /** Named in messages. */
  readonly url: string;
  /** The block's bytes as stored there, unchecked, or `undefined` if it has none. */
  fetchBlock(cid: CID): Promise<Uint8Array | undefined>;
}

/** A file of a document as reads return it. */
export interface DocFile {
  /** MIME type. */
  readonly type: string;
  /** Bytes. */
  readonly size: number;
  /** The file's CID (its manifest's): equal CIDs, equal files. */
  readonly cid: string;
  /** A `File`'s modification time when it was put (ms since the epoch). */
  readonly lastModified?: number;
  /**
   * The whole file as a `File` (named as in `_files`). It holds the file in
   * memory (browsers may keep large ones on disk): prefer {@link stream}
   * for big files.
   */
  file(): Promise<File>;
  /**
   * The file's bytes, read (and fetched from a sync point if this device
   * lacks them) one chunk at a time as the stream is consumed.
   */
  stream(): ReadableStream<Uint8Array>;
}

/** See the module docs. */
export class LedgerFiles {
  readonly #store: ByteStore;
  readonly #blocks: ByteStore;
  readonly #cipher: AeadCipher;
  /** Seals small files' chunks (no hand-off to pay for). */
  readonly #inlineSealer: ChunkSealer;
  /** Seals the chunks of large files: the platform's, if it has one (see `./chunk-sealer.ts`). */
  readonly #largeSealer: ChunkSealer;
  readonly #durability: Durability;
  readonly #ledger: string;
  readonly #sources = new Set<BlockSource>();
  readonly #listeners = new Set<() => void>();
  #secret: Promise<Uint8Array> | undefined;
  /** Writes between their first block and their commit: a collection waits for them, and they for it. */
  #writes = 0;
  #writesDrained: (() => void) | undefined;
  #collecting: Promise<unknown> | undefined;

  /**
   * @param store - the ledger's (encrypted) store, for the records
   * @param blocks - where blocks go: the store under the encryption layer (or `store` itself)
   */
  constructor(store: ByteStore, blocks: ByteStore, cipher: AeadCipher, durability: Durability, ledgerName: string, sealer?: ChunkSealer) {
    this.#store = store;
    this.#blocks = blocks;
    this.#cipher = cipher;
    this.#durability = durability;
    this.#ledger = ledgerName;
    this.#inlineSealer = inlineSealer(cipher);
    this.#largeSealer = sealer ?? this.#inlineSealer;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Turns a `put`'s `_files` request into stored entries: new content is
   * written (blocks first, so a document never names a file that is not
   * here), kept files are looked up among `current`'s.
   * @throws HearthError `INVALID_DOC` for a kept file the document does not have; what {@link write} throws
   */
  async resolve(request: FilesRequest, current: DocBody | undefined, docId: string): Promise<FilesPatch> {
    const have = current ? storedFiles(current) : [];
    const set: Array<readonly [string, ReturnType<typeof encodeStoredFile> | null]> = [];
    for (const [name, change] of request.changes) {
      const where = `file ${JSON.stringify(name)} of document ${JSON.stringify(docId)}`;
      if (change.kind === "remove") set.push([name, null]);
      else if (change.kind === "write") set.push([name, encodeStoredFile(await this.write(change.content, where))]);
      else {
        const found = have.find(([, file]) => file.cid.toString() === change.cid);
        if (!found) {
          throw new HearthError(
            "INVALID_DOC",
            `_files[${JSON.stringify(name)}] names file ${change.cid}, which document ${JSON.stringify(docId)} does not have (any more); pass the content itself (File, Blob, Uint8Array or ReadableStream)`,
          );
        }
        set.push([name, encodeStoredFile(found[1])]);
      }
    }
    return { clear: request.clear, set };
  }

  /**
   * Stores `content` as a file: chunks, sealed, each stored once.
   * @throws HearthError `TOO_LARGE` past {@link MAX_FILE_BYTES}; `STORAGE_FAILED` when the content cannot be read or stored
   */
  async write(content: FileInput, where: string): Promise<StoredFile> {
    const secret = await this.#fileSecret();
    const info = inputInfo(content);
    const chunks: ChunkRef[] = [];
    const window = new WriteWindow(WRITES_IN_FLIGHT);
    /** Chunks being sealed, in file order. */
    const sealing: Array<{ readonly length: number; readonly sealed: Promise<SealedChunk> }> = [];
    /** Blocks this write stores (a chunk repeated in one file is written once). */
    const writing = new Set<string>();
    const knownLarge = sizeOf(content) >= LARGE_FILE_BYTES;
    let size = 0;
    /** The oldest chunk's seal, then its block handed to the store. */
    const storeOldest = async (): Promise<void> => {
      const { length, sealed: pending } = sealing.shift()!;
      const sealed = await pending;
      const name = sealed.cid.toString();
      if (!writing.has(name) && !(await this.hasBlock(sealed.cid))) {
        writing.add(name);
        await window.add(() => this.#blocks.write({ put: [[blockKey(sealed.cid), sealed.bytes]] }));
      }
      chunks.push({ cid: sealed.cid, key: sealed.key, length });
    };
    try {
      let index = 0;
      for await (const chunk of chunksOf(content, CHUNK_BYTES, where)) {
        size += chunk.length;
        if (size > MAX_FILE_BYTES) {
          throw new HearthError("TOO_LARGE", `${where} is larger than ${MAX_FILE_BYTES / 1024 ** 3} GiB, the largest file a document may hold; split it over several files`);
        }
        // A stream's size is unknown: its first chunks are sealed here, the rest by the large-file sealer.
        const sealer = knownLarge || index++ >= LARGE_FILE_BYTES / CHUNK_BYTES ? this.#largeSealer : this.#inlineSealer;
        const length = chunk.length; // (the sealer may take the chunk's buffer)
        const sealed = sealer.seal(secret, chunk);
        sealed.catch(() => undefined); // awaited in order below, or dropped when the write fails
        sealing.push({ length, sealed });
        if (sealing.length >= SEALS_IN_FLIGHT) await storeOldest();
      }
      while (sealing.length > 0) await storeOldest();
      await window.drain();
    } catch (err) {
      // Blocks already stored and named by no record are collected by compact().
      await Promise.allSettled(sealing.map((s) => s.sealed));
      await window.settle();
      throw err;
    }
    const manifest = await sealManifest(this.#cipher, secret, { size, chunks });
    // The blocks first: a record never names a file whose blocks are not all here (a crash between leaves blocks compact() collects).
    await this.#blocks.write({ put: [[blockKey(manifest.cid), manifest.bytes]] }, { durability: this.#durability });
    await this.#store.write({ put: [[HELD_PREFIX + manifest.cid.toString(), manifest.key]] }, { durability: this.#durability });
    this.#changed();
    return { cid: manifest.cid, key: manifest.key, size, ...info };
  }

  /**
   * Marks a write that may store blocks as in flight until the returned
   * function is called (after its commit): a collection never runs while
   * blocks are written but not yet referenced by a committed document.
   */
  async beginWrite(): Promise<() => void> {
    while (this.#collecting) await this.#collecting.catch(() => undefined);
    this.#writes++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#writes === 0) this.#writesDrained?.();
    };
  }

  /**
   * Runs `fn` with no write in flight, holding new writes back until it
   * ends: what it reads of the documents' files stays true while it runs.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#collecting) await this.#collecting.catch(() => undefined);
    const run = (async () => {
      while (this.#writes > 0) await new Promise<void>((resolve) => (this.#writesDrained = resolve));
      this.#writesDrained = undefined;
      return fn();
    })();
    this.#collecting = run;
    try {
      return await run;
    } finally {
      this.#collecting = undefined;
    }
  }

  /**
   * Deletes every block and record of files `live` does not name: files of
   * deleted documents, of removed `_files` entries, of writes that failed.
   * Blocks shared with a live file stay. A dead file in `pending` (a sync
   * point still holds its blocks) keeps its manifest, recorded as gone,
   * until it is no longer pending. Call it inside {@link exclusive}.
   * @returns how many files and blocks went
   */
  async collect(live: ReadonlySet<string>, pending: ReadonlySet<string>): Promise<{ files: number; blocks: number }> {
    const keep = new Set<string>();
    const dead: string[] = [];
    const gone: Array<readonly [string, Uint8Array]> = [];
    let files = 0;
    for (const [prefix, roots] of [[HELD_PREFIX, await this.held()], [WANTED_PREFIX, await this.wanted()], [GONE_PREFIX, await this.#rootsUnder(GONE_PREFIX)]] as const) {
      for (const root of roots) {
        const name = root.cid.toString();
        if (live.has(name) && prefix !== GONE_PREFIX) {
          keep.add(name);
          const manifest = await this.localManifest(root.cid, root.key, `file ${name}`);
          for (const chunk of manifest?.chunks ?? []) keep.add(chunk.cid.toString());
          continue;
        }
        if (prefix !== GONE_PREFIX) files++;
        if (pending.has(name)) {
          keep.add(name); // its manifest, to name its blocks at the sync point
          if (prefix !== GONE_PREFIX) gone.push([GONE_PREFIX + name, root.key]);
          if (prefix !== GONE_PREFIX || live.has(name)) dead.push(prefix + name);
        } else {
          dead.push(prefix + name);
        }
      }
    }
    const blocks = (await this.#blocks.list(BLOCK_PREFIX)).filter((key) => !keep.has(key.slice(BLOCK_PREFIX.length)));
    // Records first: a crash part way leaves blocks no record names, which the next collection finds.
    if (gone.length > 0) await this.#store.write({ put: gone }, { durability: this.#durability });
    for (const [from, keys] of [[this.#store, dead], [this.#blocks, blocks]] as const) {
      for (let at = 0; at < keys.length; at += COLLECT_SLICE) {
        await from.write({ del: keys.slice(at, at + COLLECT_SLICE) }, { durability: this.#durability });
      }
    }
    return { files, blocks: blocks.length };
  }

  /** The manifest key of file `root` if this device has a record of it (held, wanted or gone). */
  async keyOf(root: CID): Promise<Uint8Array | undefined> {
    for (const prefix of [HELD_PREFIX, WANTED_PREFIX, GONE_PREFIX]) {
      const key = await this.#store.get(prefix + root.toString());
      if (key) return key;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- reads

  /** `doc` with each stored `_files` entry replaced by a {@link DocFile}; malformed entries are dropped. */
  hydrate<T extends { _id: string }>(doc: T): T {
    const raw = (doc as unknown as DocBody)[FILES_FIELD];
    if (raw === undefined) return doc;
    const files: Record<string, DocFile> = {};
    for (const [name, file] of storedFiles(doc as unknown as DocBody)) files[name] = this.#docFile(doc._id, name, file);
    (doc as Record<string, unknown>)[FILES_FIELD] = files;
    return doc;
  }

  #docFile(docId: string, name: string, file: StoredFile): DocFile {
    const where = `file ${JSON.stringify(name)} of document ${JSON.stringify(docId)} in ledger ${JSON.stringify(this.#ledger)}`;
    const stream = (): ReadableStream<Uint8Array> => this.stream(file, where);
    return {
      type: file.type,
      size: file.size,
      cid: file.cid.toString(),
      ...(file.lastModified !== undefined && { lastModified: file.lastModified }),
      stream,
      file: async () => {
        const parts: Uint8Array[] = [];
        const reader = stream().getReader();
        for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value);
        return new File(parts as BlobPart[], name, { type: file.type, ...(file.lastModified !== undefined && { lastModified: file.lastModified }) });
      },
    };
  }

  /**
   * The file's bytes, a chunk at a time (fetched where missing).
   * The stream errors with `INTEGRITY` (a block that is not what the
   * manifest names) or `NOT_FOUND` (no attached sync point has a block yet).
   */
  stream(file: StoredFile, where: string): ReadableStream<Uint8Array> {
    let manifest: Manifest | undefined;
    let next = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        manifest ??= await this.manifest(file.cid, file.key, where);
        const ref = manifest.chunks[next++];
        if (ref === undefined) {
          controller.close();
          return;
        }
        controller.enqueue(await this.#chunk(ref, where));
      },
    });
  }

  /**
   * The manifest of the file `cid` (fetched if this device lacks it).
   * @throws HearthError `INTEGRITY`, `NOT_FOUND`
   */
  async manifest(cid: CID, key: Uint8Array, where: string): Promise<Manifest> {
    return this.#verified(cid, where, (bytes) => openManifest(this.#cipher, cid, key, bytes, where));
  }

  /**
   * Checks block bytes fetched from somewhere against the chunk `ref`
   * names and stores them.
   * @throws HearthError `INTEGRITY` (nothing is stored)
   */
  async acceptChunk(ref: ChunkRef, bytes: Uint8Array, where: string): Promise<void> {
    // The CID pins the exact bytes the writer sealed (the manifest naming it is itself pinned by the
    // signed document): checking it is enough; decrypting waits for a read.
    await checkBlock(ref.cid, bytes, where);
    await this.storeBlock(ref.cid, bytes);
  }

  /**
   * Checks fetched bytes as the manifest of file `cid` and stores them.
   * @throws HearthError `INTEGRITY` (nothing is stored)
   */
  async acceptManifest(cid: CID, key: Uint8Array, bytes: Uint8Array, where: string): Promise<Manifest> {
    const manifest = await openManifest(this.#cipher, cid, key, bytes, where);
    await this.storeBlock(cid, bytes);
    return manifest;
  }

  /** The manifest of file `cid` if its block is here, else `undefined`. @throws HearthError `INTEGRITY` */
  async localManifest(cid: CID, key: Uint8Array, where: string): Promise<Manifest | undefined> {
    const bytes = await this.#blocks.get(blockKey(cid));
    return bytes === undefined ? undefined : openManifest(this.#cipher, cid, key, bytes, where);
  }

  async #chunk(ref: ChunkRef, where: string): Promise<Uint8Array> {
    return this.#verified(ref.cid, where, (bytes) => openChunk(this.#cipher, ref, bytes, where));
  }

  /**
   * Opens block `cid` with `open` (which checks it): from the store, else
   * from each source in turn until one gives a block that opens, which is
   * then stored here.
   */
  async #verified<T>(cid: CID, where: string, open: (bytes: Uint8Array) => Promise<T>): Promise<T> {
    const local = await this.#blocks.get(blockKey(cid));
    if (local !== undefined) return open(local);
    let refused: unknown;
    let failed: unknown;
    for (const source of [...this.#sources]) {
      let bytes: Uint8Array | undefined;
      try {
        bytes = await source.fetchBlock(cid);
      } catch (err) {
        failed ??= err;
        continue;
      }
      if (bytes === undefined) continue;
      let opened: T;
      try {
        opened = await open(bytes);
      } catch (err) {
        refused ??= err;
        continue;
      }
      await this.storeBlock(cid, bytes);
      return opened;
    }
    if (refused !== undefined) throw refused;
    if (failed !== undefined && isHearthError(failed)) {
      throw new HearthError(failed.code, `the bytes of ${where} are not on this device and fetching them failed (${failed.message})`, { cause: failed });
    }
    const attached = this.#sources.size === 0 ? "this ledger is attached to no sync point" : "no attached sync point has them yet (their writer may not have pushed them)";
    throw new HearthError("NOT_FOUND", `the bytes of ${where} are not on this device and ${attached}; read it again once synced`, { cause: failed });
  }

  // ---------------------------------------------------------------- sync bookkeeping

  /** Adds a place to fetch missing blocks from; returns a function that removes it. */
  addSource(source: BlockSource): () => void {
    this.#sources.add(source);
    return () => void this.#sources.delete(source);
  }

  /** Calls `fn` when a file becomes held or wanted; returns a function that stops it. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /**
   * Records the files `bodies` (merged from elsewhere) refer to that are not
   * held here as wanted, for the transfers to fetch.
   */
  async noteReferenced(bodies: Iterable<DocBody | null>): Promise<void> {
    const wanted: Array<readonly [string, Uint8Array]> = [];
    for (const body of bodies) {
      if (body === null || body[FILES_FIELD] === undefined) continue;
      for (const [, file] of storedFiles(body)) {
        const root = file.cid.toString();
        if (await this.#has(HELD_PREFIX + root)) continue;
        if (wanted.some(([key]) => key === WANTED_PREFIX + root) || (await this.#has(WANTED_PREFIX + root))) continue;
        wanted.push([WANTED_PREFIX + root, file.key]);
      }
    }
    if (wanted.length === 0) return;
    await this.#store.write({ put: wanted }, { durability: this.#durability });
    this.#changed();
  }

  /** Files held whole here: manifest CID and key. */
  async held(): Promise<Array<{ cid: CID; key: Uint8Array }>> {
    return this.#rootsUnder(HELD_PREFIX);
  }

  /** Files wanted here: manifest CID and key. */
  async wanted(): Promise<Array<{ cid: CID; key: Uint8Array }>> {
    return this.#rootsUnder(WANTED_PREFIX);
  }

  /** True if block `cid` is stored here. */
  async hasBlock(cid: CID): Promise<boolean> {
    const key = blockKey(cid);
    return (await this.#blocks.list(key)).includes(key);
  }

  /** Block `cid` as stored here, or `undefined`. */
  readBlock(cid: CID): Promise<Uint8Array | undefined> {
    return this.#blocks.get(blockKey(cid));
  }

  /** Stores a block the caller has checked against `cid`. */
  async storeBlock(cid: CID, bytes: Uint8Array): Promise<void> {
    if (await this.hasBlock(cid)) return;
    await this.#blocks.write({ put: [[blockKey(cid), bytes]] });
  }

  /** Records that every block of file `cid` is here now. */
  async markHeld(cid: CID, key: Uint8Array): Promise<void> {
    const root = cid.toString();
    await this.#store.write({ put: [[HELD_PREFIX + root, key]], del: [WANTED_PREFIX + root] }, { durability: this.#durability });
    this.#changed();
  }

  async #rootsUnder(prefix: string): Promise<Array<{ cid: CID; key: Uint8Array }>> {
    const out: Array<{ cid: CID; key: Uint8Array }> = [];
    for (const key of await this.#store.list(prefix)) {
      const value = await this.#store.get(key);
      if (value === undefined) continue;
      out.push({ cid: CID.parse(key.slice(prefix.length)), key: value });
    }
    return out;
  }

  async #has(key: string): Promise<boolean> {
    return (await this.#store.list(key)).includes(key);
  }

  #changed(): void {
    for (const fn of [...this.#listeners]) fn();
  }

  #fileSecret(): Promise<Uint8Array> {
    this.#secret ??= (async () => {
      const held = await this.#store.get(SECRET_KEY);
      if (held?.length === SECRET_BYTES) return held;
      const secret = globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
      await this.#store.write({ put: [[SECRET_KEY, secret]] }, { durability: this.#durability });
      return secret;
    })();
    this.#secret.catch(() => (this.#secret = undefined));
    return this.#secret;
  }
}

/** The store key of block `cid`. */
export function blockKey(cid: CID): string {
  return BLOCK_PREFIX + cid.toString();
}


/** The manifest CIDs (text) of every file `body` records. */
export function fileRootsOf(body: DocBody | null): string[] {
  if (body === null || body[FILES_FIELD] === undefined) return [];
  return storedFiles(body).map(([, file]) => file.cid.toString());
}
