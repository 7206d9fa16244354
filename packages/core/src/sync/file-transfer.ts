/**
 * Moves files' blocks between a ledger and one sync point, beside the
 * document sync and never in its way: documents go out as soon as they are
 * written, and their files follow here, in the background.
 *
 * - **Push:** every file held whole here that the point does not have yet
 *   is uploaded block by block, the manifest first: a reader that finds it
 *   knows every chunk and fetches them as they arrive, so the download runs
 *   beside the upload instead of after it. A chunk not there yet is asked
 *   for again when the point names it (a change under `file/`).
 * - **Fetch** (`files: "eager"`, the default): every file a merged document
 *   refers to and this device lacks is downloaded, each block checked
 *   against its CID before it is stored. With `files: "lazy"` nothing is
 *   fetched ahead: `file()`/`stream()` fetch the blocks they read.
 *
 * Resuming: each block uploaded is recorded (`fu/<cid>` in the point's
 * bookkeeping) and each block downloaded is stored as it arrives, so after
 * a crash or a disconnect a transfer goes on from the first block it had
 * not finished, not from the start of the file. A whole file done is
 * recorded too (`fd/<cid>`), so later passes skip it without a look.
 *
 * At the remote: `file/<cid>` for every block, named by the hash of its
 * bytes, which the sync server checks on upload; split into parts where
 * the remote takes less in one object (`./file-blocks-remote.ts`).
 *
 * A hostile or damaged sync point: a block whose bytes do not match its
 * name (or do not open as the manifest names them) is refused, deleted at
 * the point (its name says what it must hold, so the bytes are provably
 * wrong) and fetched again later, from a holder's new upload. Holders look
 * again at what the point has (at attach, and on the slow poll: see
 * {@link FileTransfer.verifyNext}) and upload again what is gone.
 *
 * Collecting: a file nothing refers to any more has its blocks deleted at
 * the point by {@link FileTransfer.collect} (from `Ledger.compact()`), but
 * only once that is safe: this replica is in sync with the point, and every
 * writer has since pushed a statement whose heads cover this replica's
 * heads (`./writer-heads.ts`), so no write anyone made before can still
 * refer to the file, and every later one builds on a state that does not.
 * Blocks a live file shares stay; if a live file's manifest is not here
 * (a lazy replica), nothing is collected. While it collects, the ledger
 * {@link FileTransfer.hold}s every transfer: a pass that verified its
 * uploads meanwhile would take the blocks going for lost and put them back.
 * And a holder puts back only files a document here still refers to
 * (`FileTransferDeps.liveFiles`): the other devices that hold a collected
 * file (until they compact too) leave it collected.
 *
 * Failures never block documents: a transfer that fails (offline, a block
 * the point does not have yet) is tried again on the next kick (a local
 * file, a merged document, a change at the remote, the poll) and after a
 * capped backoff.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { HearthError, isHearthError } from "../errors.js";
import type { LedgerFiles } from "../files/ledger-files.js";
import type { ChunkRef } from "../files/blocks.js";
import { blockOfName, deleteBlock, FILE_PREFIX, getBlock, listedBlocks, putBlock } from "./file-blocks-remote.js";
import type { Remote, RemoteChange } from "../remote/types.js";
import type { PointMeta } from "./layout.js";
import type { SyncLogger } from "./logger.js";

export { FILE_PREFIX } from "./file-blocks-remote.js";

/** When files' bytes are fetched: as soon as their documents arrive, or when read. */
export type FilesMode = "eager" | "lazy";

/** Bytes of file blocks still to move, and moved since the attachment started. */
export interface FileProgress {
  /** Bytes of blocks waiting to be uploaded to the sync point. */
  readonly toPush: number;
  /** Bytes uploaded since attaching. */
  readonly pushed: number;
  /** Bytes of blocks waiting to be downloaded (known once a file's manifest is here). */
  readonly toFetch: number;
  /** Bytes downloaded since attaching. */
  readonly fetched: number;
}

/** What a {@link FileTransfer} works with. */
export interface FileTransferDeps {
  readonly remote: Remote;
  readonly files: LedgerFiles;
  readonly meta: PointMeta;
  readonly mode: FilesMode;
  readonly logger: SyncLogger;
  /** Called whenever the progress changes. */
  readonly onProgress: (progress: FileProgress) => void;
  /**
   * True while this device may write at the point (an admin or a writer):
   * a reader's or a removed device's files stay local, like its documents,
   * rather than fill the point with blocks nobody can refer to.
   */
  readonly mayPush: () => boolean;
  /**
   * Those of `roots` (manifest CIDs, text) some version of some document
   * here refers to: files found gone at the point are put back, and files
   * wanted are waited for, only then. Asked on passes: cheap once asked
   * (see `ledger/file-liveness.ts`).
   */
  readonly liveFiles: (roots: Iterable<string>) => Promise<Set<string>>;
}

/** Blocks moved at once (each holds a chunk in memory). */
const PARALLEL = 8;
const EMPTY = new Uint8Array(0);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * The state of the one pass that runs at a time: idle; running (and asked
 * to run again after); or held (see {@link FileTransfer.hold}: no pass
 * runs, and one asked for meanwhile runs at the release).
 */
type PassState =
  | { readonly kind: "idle" }
  | { readonly kind: "running"; again: boolean; readonly done: Promise<void> }
  | { readonly kind: "held"; again: boolean };

/** Thrown inside a pass that a {@link FileTransfer.hold} stops at its next block; not a failure. */
class PassHeld extends Error {}

/** See the module docs. */
export class FileTransfer {
  readonly #deps: FileTransferDeps;
  #pass: PassState = { kind: "idle" };
  /** Holds not released yet ({@link hold}): the pass state is `held` once the running pass (if any) stopped. */
  #holds = 0;
  #stopped = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** {@link settled} callers waiting for the next kick. */
  readonly #kicked = new Set<() => void>();
  #progress: FileProgress = { toPush: 0, pushed: 0, toFetch: 0, fetched: 0 };
  #lastError: HearthError | undefined;
  /** The next pass first checks that what was uploaded is still at the point. */
  #verifyNeeded = true;
  /** Blocks refused as altered since attaching. */
  #rejected = 0;
  /**
   * Chunks a fetch found missing at the point (a file still going up): not
   * asked for again until a change names them, or a change names nothing
   * (a remote that cannot name changes), or a verify or the poll asks for a
   * full look (see {@link noteChanges}).
   */
  readonly #absent = new Set<string>();
  /**
   * Blocks a change named while a fetch pass runs (`"all"`: a change that
   * names nothing; `undefined`: no fetch is running). A get that found one
   * missing may have raced its upload: it is not marked absent, and the
   * pass the change asked for fetches it.
   */
  #namedDuringFetch: Set<string> | "all" | undefined;
  /** Names this transfer put or deleted that the watch has not told back yet: their notifications wake nothing. */
  readonly #ownPuts = new Set<string>();


  constructor(deps: FileTransferDeps) {
    this.#deps = deps;
  }

  /** Progress so far. */
  get progress(): FileProgress {
    return this.#progress;
  }

  /** The last failure of a pass, until a pass succeeds. */
  get error(): HearthError | undefined {
    return this.#lastError;
  }

  /**
   * Resolves once a pass has left nothing to move: every file held here is
   * at the sync point and (eager) every file wanted here is held.
   * @throws HearthError `TIMEOUT` after `timeoutMs`, with what is left in the message
   */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#absent.clear();
    for (;;) {
      this.kick();
      await this.idle();
      const left = await this.#left();
      if (left === "") return;
      const wait = deadline - Date.now();
      if (wait <= 0 || this.#stopped) {
        const error = this.#lastError ? `; last error ${this.#lastError.code}: ${this.#lastError.message}` : "";
        throw new HearthError("TIMEOUT", `files not in sync with ${this.#deps.remote.url} after ${timeoutMs} ms: ${left}${error}`);
      }
      // The next kick (a change here or at the remote, the poll, a retry) may finish it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#kicked.add(done);
      });
    }
  }

  /** What is left to move, in words; `""` for nothing. */
  async #left(): Promise<string> {
    const { files, meta } = this.#deps;
    const done = new Set((await meta.list("fd/")).map((k) => k.slice(3)));
    const toPush = this.#deps.mayPush() ? (await files.held()).filter((root) => !done.has(root.cid.toString())).length : 0;
    const wanted = this.#deps.mode === "eager" ? await files.wanted() : [];
    // Files no document here refers to any more are not waited for: their holders let them go (see #verify).
    const toFetch = wanted.length > 0 ? (await this.#deps.liveFiles(wanted.map((root) => root.cid.toString()))).size : 0;
    if (toPush === 0 && toFetch === 0) return "";
    return `${toPush} file(s) to upload, ${toFetch} file(s) to download`;
  }

  /** Blocks refused as altered (deleted at the point, to be fetched again). */
  get rejected(): number {
    return this.#rejected;
  }

  /** Has the next pass check the point still holds what was uploaded, and look again for every missing block (the slow poll calls it). */
  verifyNext(): void {
    this.#verifyNeeded = true;
    this.#absent.clear();
  }

  /**
   * A change at the point under `file/`: blocks it names (or, with no
   * names, any) may be there now.
   * @returns false when it only tells back this transfer's own puts (nothing to do)
   */
  noteChanges(changes: readonly RemoteChange[] | undefined): boolean {
    if (changes === undefined) {
      this.#absent.clear();
      if (this.#namedDuringFetch) this.#namedDuringFetch = "all";
      return true;
    }
    let news = false;
    for (const change of changes) {
      if (change.op === "put" && this.#ownPuts.delete(change.name)) continue;
      news = true;
      // A block deleted by someone else (a reader that found it altered, the point): whoever holds it uploads it again.
      if (change.op === "delete") this.verifyNext();
      const block = blockOfName(change.name);
      this.#absent.delete(block);
      if (this.#namedDuringFetch instanceof Set) this.#namedDuringFetch.add(block);
    }
    return news;
  }

  /** Puts `name` as this transfer's own (see {@link noteChanges}). */
  async #put(name: string, put: () => Promise<void>): Promise<void> {
    if (this.#deps.remote.supports.watch) this.#ownPuts.add(name);
    try {
      await put();
    } catch (err) {
      this.#ownPuts.delete(name);
      throw err;
    }
  }

  /** Runs a pass now, or once the running one ends. */
  kick(): void {
    if (this.#stopped) return;
    for (const waiter of [...this.#kicked]) waiter();
    this.#kicked.clear();
    if (this.#pass.kind !== "idle") {
      this.#pass.again = true;
      return;
    }
    const pass: PassState = { kind: "running", again: false, done: this.#runPasses() };
    this.#pass = pass;
  }

  /** Resolves when no pass is running (for tests and detach; a held transfer is not running). */
  async idle(): Promise<void> {
    while (this.#pass.kind === "running") await this.#pass.done;
  }

  /**
   * Stops the running pass at its next block and starts none until the
   * returned release is called (a kick meanwhile runs a pass then). The
   * ledger holds every transfer while it collects files (`compact()`).
   * Holds nest; releasing twice is a no-op.
   */
  async hold(): Promise<() => void> {
    this.#holds++;
    // (Not `await this.idle()`: a kick in the turn after it could start a pass before the state is held.)
    while (this.#pass.kind === "running") await this.#pass.done;
    if (this.#pass.kind === "idle") this.#pass = { kind: "held", again: false };
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds > 0 || this.#pass.kind !== "held") return;
      const again = this.#pass.again;
      this.#pass = { kind: "idle" };
      if (again) this.kick();
    };
  }

  /** Throws {@link PassHeld} when a hold waits for the running pass to stop, or `STORE_CLOSED` once stopped. */
  #checkGoOn(): void {
    if (this.#stopped) throw new HearthError("STORE_CLOSED", "the attachment was detached");
    if (this.#holds > 0) throw new PassHeld();
  }

  /** Stops: no new pass starts; the running one ends at its next block. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    for (const waiter of [...this.#kicked]) waiter();
    await this.idle();
  }

  /** Forgets what was uploaded (the remote was wiped): everything is pushed again. */
  async forgetUploads(): Promise<void> {
    const { meta } = this.#deps;
    const keys = [...(await meta.list("fu/")), ...(await meta.list("fd/"))];
    if (keys.length > 0) await meta.write([], keys);
  }

  async #runPasses(): Promise<void> {
    // Started from kick(): let the caller's turn finish first.
    await Promise.resolve();
    for (;;) {
      try {
        await this.#push();
        if (this.#deps.mode === "eager") await this.#fetch();
        this.#lastError = undefined;
        this.#retryMs = RETRY_MIN_MS;
      } catch (err) {
        if (!(err instanceof PassHeld)) this.#failed(err);
      }
      const pass = this.#pass;
      if (pass.kind !== "running") break; // (not reached: only a pass moves from running)
      if (this.#holds > 0) {
        // Stopped for a hold: the work left runs at the release.
        this.#pass = { kind: "held", again: true };
        return;
      }
      if (this.#stopped || !pass.again) break;
      pass.again = false;
    }
    this.#pass = { kind: "idle" };
  }

  #failed(err: unknown): void {
    const error = isHearthError(err) ? err : new HearthError("STORAGE_FAILED", `file transfer with ${this.#deps.remote.url} failed`, { cause: err });
    this.#lastError = error;
    this.#deps.logger("files.failed", { remote: this.#deps.remote.url, code: error.code, message: error.message });
    if (this.#stopped || error.code === "STORE_CLOSED") return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.kick(), this.#retryMs);
    (this.#retryTimer as { unref?: () => void }).unref?.();
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
  }

  // ---------------------------------------------------------------- push

  /**
   * Forgets uploads the point no longer has, so they go up again: files
   * some document here refers to. A dead file found gone stays recorded as
   * done (a compaction collected it; this device's own next compaction
   * drops the record).
   */
  async #verify(): Promise<void> {
    const { files, meta, remote } = this.#deps;
    const uploaded = await meta.list("fu/");
    const finished = await meta.list("fd/");
    if (uploaded.length === 0 && finished.length === 0) return;
    const present = listedBlocks(await remote.list(FILE_PREFIX));
    const gone = uploaded.filter((key) => !present.has(key.slice(3)));
    const goneBlocks = new Set(gone.map((key) => key.slice(3)));
    const held = new Map((await files.held()).map((root) => [root.cid.toString(), root] as const));
    const goneFiles: string[] = [];
    for (const key of finished) {
      const name = key.slice(3);
      const root = held.get(name);
      if (!root) continue;
      if (!present.has(name)) {
        goneFiles.push(name);
        continue;
      }
      const manifest = await files.localManifest(root.cid, root.key, `file ${name}`);
      if (manifest?.chunks.some((c) => !present.has(c.cid.toString()) || goneBlocks.has(c.cid.toString()))) goneFiles.push(name);
    }
    const live = goneFiles.length > 0 ? await this.#deps.liveFiles(goneFiles) : new Set<string>();
    const dead = goneFiles.filter((name) => !live.has(name));
    if (dead.length > 0) this.#deps.logger("files.collected.elsewhere", { remote: remote.url, files: dead.length });
    for (const name of live) gone.push(`fd/${name}`);
    if (gone.length === 0) return;
    await meta.write([], gone);
    // (Blocks gone with dead files only are a compaction's doing, not the point's.)
    if (live.size > 0 || dead.length === 0) this.#deps.logger("files.withheld", { remote: remote.url, records: gone.length });
  }

  async #push(): Promise<void> {
    const { files, meta, remote } = this.#deps;
    if (!this.#deps.mayPush()) return this.#setProgress({ toPush: 0 });
    if (this.#verifyNeeded) {
      this.#verifyNeeded = false;
      await this.#verify();
    }
    const done = new Set((await meta.list("fd/")).map((k) => k.slice(3)));
    const todo = (await files.held()).filter((root) => !done.has(root.cid.toString()));
    if (todo.length === 0) return this.#setProgress({ toPush: 0 });
    const uploaded = new Set((await meta.list("fu/")).map((k) => k.slice(3)));
    const plans: Array<{ root: CID; blocks: Array<{ cid: CID; bytes: number }> }> = [];
    let toPush = 0;
    for (const root of todo) {
      const manifest = await files.manifest(root.cid, root.key, `file ${root.cid}`);
      const blocks = [...manifest.chunks.map((c) => ({ cid: c.cid, bytes: c.length })), { cid: root.cid, bytes: 0 }].filter((b) => !uploaded.has(b.cid.toString()));
      for (const b of blocks) toPush += b.bytes;
      plans.push({ root: root.cid, blocks });
    }
    this.#setProgress({ toPush });
    const upload = async (block: { cid: CID; bytes: number }, root: CID): Promise<void> => {
      this.#checkGoOn();
      const name = block.cid.toString();
      if (uploaded.has(name)) return;
      const bytes = await files.readBlock(block.cid);
      if (bytes === undefined) throw new HearthError("NOT_FOUND", `block ${name} of file ${root} is missing from this device's store`);
      // (A block that goes up in parts is told back under its parts' names: not worth tracking.)
      if (bytes.length <= (remote.maxObjectBytes ?? Infinity)) await this.#put(FILE_PREFIX + name, () => putBlock(remote, block.cid, bytes));
      else await putBlock(remote, block.cid, bytes);
      await meta.write([[`fu/${name}`, EMPTY]]);
      uploaded.add(name);
      this.#setProgress({ toPush: this.#progress.toPush - block.bytes, pushed: this.#progress.pushed + block.bytes });
    };
    for (const plan of plans) {
      const root = plan.root.toString();
      const chunks = plan.blocks.filter((b) => !b.cid.equals(plan.root));
      // The manifest first (see the module docs), then the chunks in file order, 8 at a time.
      await upload({ cid: plan.root, bytes: 0 }, plan.root);
      await inParallel(chunks, PARALLEL, (block) => upload(block, plan.root));
      await meta.write([[`fd/${root}`, EMPTY]]);
      this.#deps.logger("files.pushed", { remote: remote.url, file: plan.root.toString() });
    }
  }

  // ---------------------------------------------------------------- collect

  /**
   * Deletes at the point the blocks of files that were stored there
   * (`fd/`) and that `live` does not name, if `stable()` says every writer
   * has seen this state (see the module docs).
   * @returns how many blocks were deleted
   */
  async collect(live: ReadonlySet<string>, stable: () => Promise<boolean>): Promise<number> {
    const { files, meta, remote } = this.#deps;
    const dead = (await meta.list("fd/")).map((key) => key.slice(3)).filter((root) => !live.has(root));
    if (dead.length === 0) return 0;
    // Blocks a live file shares must stay: every live file's manifest must be here to tell which.
    const shared = new Set<string>();
    for (const root of [...(await files.held()), ...(await files.wanted())]) {
      const name = root.cid.toString();
      if (!live.has(name)) continue;
      const manifest = await files.localManifest(root.cid, root.key, `file ${name}`);
      if (!manifest) {
        this.#deps.logger("files.collect.waiting", { remote: remote.url, reason: `the manifest of live file ${name} is not here` });
        return 0;
      }
      for (const chunk of manifest.chunks) shared.add(chunk.cid.toString());
      shared.add(name);
    }
    if (!(await stable())) {
      this.#deps.logger("files.collect.waiting", { remote: remote.url, reason: "not every writer has pushed since this state" });
      return 0;
    }
    let deleted = 0;
    for (const name of dead) {
      const root = CID.parse(name);
      const key = await files.keyOf(root);
      const manifest = key && (await files.localManifest(root, key, `file ${name}`));
      if (!manifest) continue; // no record of its blocks: left alone
      const blocks = [...manifest.chunks.map((c) => c.cid.toString()).filter((c) => !shared.has(c)), name];
      // The manifest goes last: a reader that still finds it finds its chunks (until it goes).
      for (const block of blocks) await deleteBlock(remote, block);
      await meta.write([], [`fd/${name}`, ...blocks.map((b) => `fu/${b}`)]);
      deleted += blocks.length;
      this.#deps.logger("files.collected", { remote: remote.url, file: name, blocks: blocks.length });
    }
    return deleted;
  }

  // ---------------------------------------------------------------- fetch

  /** Marks a block found missing as absent, unless a change named it since the pass began (see {@link #namedDuringFetch}). */
  #markAbsent(cid: CID): void {
    const name = cid.toString();
    if (this.#namedDuringFetch === "all" || this.#namedDuringFetch?.has(name)) return;
    this.#absent.add(name);
  }

  async #fetch(): Promise<void> {
    this.#namedDuringFetch = new Set();
    try {
      await this.#fetchWanted();
    } finally {
      this.#namedDuringFetch = undefined;
    }
  }

  async #fetchWanted(): Promise<void> {
    const { files, meta, remote } = this.#deps;
    const wanted = await files.wanted();
    if (wanted.length === 0) return this.#setProgress({ toFetch: 0 });
    let toFetch = 0;
    let refused: HearthError | undefined;
    const plans: Array<{ root: CID; key: Uint8Array; chunks: ChunkRef[]; skipped: number; missing: number }> = [];
    for (const root of wanted) {
      const where = `file ${root.cid}`;
      let manifest = await files.localManifest(root.cid, root.key, where);
      if (!manifest) {
        // Not pushed yet by its writer: asked for again once a change names it.
        if (this.#absent.has(root.cid.toString())) continue;
        const bytes = await getBlock(remote, root.cid);
        if (bytes === undefined) {
          this.#markAbsent(root.cid);
          continue;
        }
        try {
          manifest = await files.acceptManifest(root.cid, root.key, bytes, where);
        } catch (err) {
          refused = await this.#refuse(root.cid, err);
          continue;
        }
      }
      const chunks: ChunkRef[] = [];
      let skipped = 0;
      let missing = 0;
      for (const chunk of manifest.chunks) {
        if (await files.hasBlock(chunk.cid)) continue;
        missing += chunk.length;
        // Found missing before, and not named by a change since: not asked for again yet.
        if (this.#absent.has(chunk.cid.toString())) skipped++;
        else chunks.push(chunk);
      }
      toFetch += missing;
      plans.push({ root: root.cid, key: root.key, chunks, skipped, missing });
    }
    this.#setProgress({ toFetch });
    const incomplete = new Map<string, number>();
    for (const plan of plans) {
      let complete = true;
      let fetched = 0;
      await inParallel(plan.chunks, PARALLEL, async (chunk) => {
        this.#checkGoOn();
        const bytes = await getBlock(remote, chunk.cid, chunk.length + 16);
        if (bytes === undefined) {
          this.#markAbsent(chunk.cid);
          complete = false;
          return;
        }
        try {
          await files.acceptChunk(chunk, bytes, `file ${plan.root}`);
        } catch (err) {
          complete = false;
          refused = await this.#refuse(chunk.cid, err);
          return;
        }
        fetched += chunk.length;
        this.#setProgress({ toFetch: this.#progress.toFetch - chunk.length, fetched: this.#progress.fetched + chunk.length });
      });
      if (!complete || plan.skipped > 0) {
        incomplete.set(plan.root.toString(), plan.missing - fetched);
        continue;
      }
      await files.markHeld(plan.root, plan.key);
      // Fetched from this point: it has every block, nothing to push back.
      await meta.write([[`fd/${plan.root.toString()}`, EMPTY]]);
      this.#deps.logger("files.fetched", { remote: remote.url, file: plan.root.toString() });
    }
    if (incomplete.size > 0) {
      // Still wanted but not all at the point: a file no document here refers to any more
      // may never come back (its holders let it go, see #verify), so it is not counted as to fetch.
      const live = await this.#deps.liveFiles(incomplete.keys());
      let dead = 0;
      for (const [root, bytes] of incomplete) if (!live.has(root)) dead += bytes;
      if (dead > 0) this.#setProgress({ toFetch: Math.max(0, this.#progress.toFetch - dead) });
    }
    if (refused) throw refused;
  }

  /**
   * A block that failed its check: deleted at the point (its name says what
   * it must hold) so that a holder's next upload puts it right; counted.
   * @returns the error, for the pass to report
   * @throws what is not an `INTEGRITY` failure
   */
  async #refuse(cid: CID, err: unknown): Promise<HearthError> {
    if (!isHearthError(err) || err.code !== "INTEGRITY") throw err;
    this.#rejected++;
    this.#deps.logger("files.rejected", { remote: this.#deps.remote.url, block: cid.toString(), message: err.message });
    await deleteBlock(this.#deps.remote, cid).catch(() => undefined);
    return err;
  }

  #setProgress(change: Partial<FileProgress>): void {
    const next = { ...this.#progress, ...change };
    if (next.toPush === this.#progress.toPush && next.pushed === this.#progress.pushed && next.toFetch === this.#progress.toFetch && next.fetched === this.#progress.fetched) return;
    this.#progress = next;
    this.#deps.onProgress(next);
  }
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure rejects (after the running ones end). */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
