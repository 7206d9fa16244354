/**
 * The parent's side of `fixtures/sync-replica.ts`: a replica in its own
 * Node process, driven by JSON-line requests whose answers come back by id.
 * Every wait has a deadline; a child that dies fails its pending requests
 * at once instead of leaving them to time out.
 *
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import type { Doc, DocRow } from "../../src/ledger/types.js";
import type { JoinOptions, MemberInfo } from "../../src/sync/point-trust.js";
import type { SyncStatus } from "../../src/sync/status.js";
import type { Role } from "../../src/trust/entry.js";
import { withDeadline } from "./eventually.js";

/** What `dump` returns. */
export interface ReplicaDump {
  readonly root: string;
  readonly heads: string[];
  readonly rows: DocRow[];
}

/** One event of a replica's sync engine trace (see the fixture's `trace`). */
export interface TraceEvent {
  readonly event: string;
  readonly code?: string;
  readonly message?: string;
}

/** A request that the child answered with an error: its code, as tests assert codes. */
export class ReplicaError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Awaits `promise` and asserts the child answered it with an error of code `code`. */
export async function expectReplicaCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReplicaError);
  expect((err as ReplicaError).code, (err as Error).message).toBe(code);
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Deadline of one request unless the call says otherwise. */
const REQUEST_MS = 20_000;

/** See the module docs. */
export class ReplicaProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<void>;
  #next = 1;
  #stderr = "";

  private constructor(
    readonly name: string,
    /** The `file:` URL of its keyring directory (another process may open it too, to see which keys it holds). */
    readonly keyring: string,
    child: ChildProcessWithoutNullStreams,
  ) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("close", () => resolve()));
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) this.#answer(line);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    void this.#exited.then(() => {
      // Whatever was cut off by the exit was never acknowledged.
      const why = new Error(`replica ${name} (pid ${child.pid}) exited (${child.signalCode ?? child.exitCode}) before answering; stderr: ${this.#stderr}`);
      for (const pending of this.#pending.values()) pending.reject(why);
      this.#pending.clear();
    });
  }

  /**
   * Starts replica `name` with its store and keyring under `dir` (the same
   * `dir` and `name` reopen the same replica) and waits until it is ready.
   */
  static async start(script: string, dir: string, name: string): Promise<ReplicaProcess> {
    const store = pathToFileURL(join(dir, name, "store")).href;
    const keyring = pathToFileURL(join(dir, name, "keyring")).href;
    const child = spawn(process.execPath, [script, name, store, keyring], { stdio: "pipe" });
    const replica = new ReplicaProcess(name, keyring, child);
    const ready = new Promise<unknown>((resolve, reject) => replica.#pending.set(0, { resolve, reject }));
    await withDeadline(ready, REQUEST_MS, `replica ${name} to open its ledger`);
    return replica;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Sends one request; resolves with the child's answer (rejects with a {@link ReplicaError} for a failure). */
  request<T = unknown>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_MS): Promise<T> {
    const id = this.#next++;
    const answered = new Promise<T>((resolve, reject) => this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.#child.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    return withDeadline(answered, timeoutMs, `replica ${this.name} to answer ${cmd}; stderr: ${this.#stderr}`);
  }

  device(): Promise<{ publicKey: string; fingerprint: string }> {
    return this.request("device");
  }

  attach(url: string, invitation?: string): Promise<SyncStatus> {
    return this.request("attach", { url, ...(invitation && { invitation }) });
  }

  /** Attaches with an invitation, a share code or a passphrase. */
  join(url: string, options: JoinOptions): Promise<SyncStatus> {
    return this.request("attach", { url, ...options });
  }

  /** Invites a device (as `role`, "writer" by default); returns the invitation it attaches with. */
  async invite(publicKey: string, role?: Role): Promise<string> {
    return (await this.request<{ invitations: string[] }>("invite", { publicKey, ...(role && { role }) })).invitations[0]!;
  }

  /** The current attachment's status. */
  status(): Promise<SyncStatus> {
    return this.request("status");
  }

  members(): Promise<MemberInfo[]> {
    return this.request("members");
  }

  /** Removes a device (by public key or fingerprint) from the sync point. */
  async remove(publicKey: string): Promise<void> {
    await this.request("remove", { publicKey });
  }

  async rotateKey(): Promise<void> {
    await this.request("rotateKey");
  }

  /** A one-time share code for `role` ("writer" by default). */
  createShareCode(role?: Role): Promise<string> {
    return this.request("createShareCode", role ? { role } : {});
  }

  /** Everything its sync engine logged so far. */
  trace(): Promise<TraceEvent[]> {
    return this.request("trace");
  }

  put(doc: Record<string, unknown>): Promise<{ id: string; clock: string[] }> {
    return this.request("put", { doc });
  }

  bulk(docs: Array<Record<string, unknown>>): Promise<{ ids: string[]; clock: string[] }> {
    return this.request("bulk", { docs });
  }

  del(docId: string): Promise<{ id: string; clock: string[] }> {
    return this.request("del", { docId });
  }

  synced(timeoutMs = 10_000): Promise<SyncStatus> {
    return this.request("synced", { timeoutMs }, timeoutMs + 5_000);
  }

  detach(flushTimeoutMs?: number): Promise<unknown> {
    return this.request("detach", flushTimeoutMs === undefined ? {} : { flushTimeoutMs });
  }

  dump(): Promise<ReplicaDump> {
    return this.request("dump");
  }

  get(docId: string): Promise<Doc> {
    return this.request("get", { docId });
  }

  /** Attaches with file options: `files` mode, and `holdFileBlocksAfter` (see the fixture). */
  attachFiles(url: string, options: { invitation?: string; files?: "eager" | "lazy"; holdFileBlocksAfter?: number }): Promise<SyncStatus> {
    return this.request("attach", { url, ...options });
  }

  /** Writes `size` bytes of `keystream(seed)` as file `fileName` of document `docId`; returns the file's CID. */
  putFile(docId: string, fileName: string, size: number, seed: number, timeoutMs = 120_000): Promise<string> {
    return this.request("putFile", { docId, fileName, size, seed }, timeoutMs);
  }

  /** Reads file `fileName` of `docId` as a stream: its SHA-256 (hex) and size. */
  fileDigest(docId: string, fileName: string, timeoutMs = 120_000): Promise<{ sha256: string; size: number }> {
    return this.request("fileDigest", { docId, fileName }, timeoutMs);
  }

  /** Waits until files are in sync with the sync point. */
  filesSynced(timeoutMs = 30_000): Promise<SyncStatus> {
    return this.request("filesSynced", { timeoutMs }, timeoutMs + 5_000);
  }

  /** The last file progress event (or null). */
  progress(): Promise<{ toPush: number; pushed: number; toFetch: number; fetched: number } | null> {
    return this.request("progress");
  }

  /** The process's peak RSS so far. */
  usage(): Promise<{ maxRssBytes: number }> {
    return this.request("usage");
  }

  /** Closes the ledger (pushing what it can) and waits for the process to exit 0. */
  async close(): Promise<void> {
    await this.request("close");
    await withDeadline(this.#exited, REQUEST_MS, `replica ${this.name} to exit`);
    if (this.#child.exitCode !== 0) throw new Error(`replica ${this.name} exited ${this.#child.exitCode}: ${this.#stderr}`);
  }

  /** SIGKILLs the process (no close, no flush) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGKILL");
    await withDeadline(this.#exited, REQUEST_MS, `replica ${this.name} to die`);
  }

  /** Kills the process if it still runs; for cleanup. */
  async stop(): Promise<void> {
    await this.kill().catch(() => undefined);
  }

  #answer(line: string): void {
    const message = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; code?: string; message?: string };
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else pending.reject(new ReplicaError(message.code ?? "UNKNOWN", `replica ${this.name}: ${message.message}`));
  }
}
