/**
 * Replicas for sync tests: each with its own store and, unless the test is
 * about one device, its own keyring. Everything opened is closed by
 * {@link Peers.closeAll}.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, type Ledger } from "../../src/index.node.js";
import type { Attachment } from "../../src/sync/attachment.js";
import type { Remote } from "../../src/remote/types.js";
import type { Role } from "../../src/trust/entry.js";
import { dropMemoryRemote } from "../../src/remote/memory.js";

let counter = 0;

/** A unique name for this test run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Where replicas live: `memory` (stores and keyrings in memory) or `file` (a temp directory). */
export type PeerStorage = "memory" | "file";

/** Opens and tracks replicas and sync points for one test. */
export class Peers {
  readonly #ledgers = new Set<Ledger>();
  readonly #memoryRemotes: string[] = [];
  readonly #dirs: string[] = [];
  readonly storage: PeerStorage;
  readonly #root: string;

  constructor(storage: PeerStorage = "memory") {
    this.storage = storage;
    this.#root = mkdtempSync(join(tmpdir(), "hearth-sync-"));
    this.#dirs.push(this.#root);
  }

  /** A temporary directory of this test's own, removed by {@link closeAll}. */
  get dir(): string {
    return this.#root;
  }

  /** A fresh sync point URL of the given kind. */
  syncPoint(kind: "memory" | "file" = "memory"): string {
    if (kind === "memory") {
      const url = `memory://${uniqueName("point")}`;
      this.#memoryRemotes.push(url);
      return url;
    }
    return `file://${join(this.#root, uniqueName("point"))}`;
  }

  /**
   * Opens replica `name`. `keyring` names the device: replicas given the
   * same keyring name share one keyring (one device); by default each
   * replica is its own device.
   */
  async open(name: string, keyring = `${name}-device`): Promise<Ledger> {
    const db = await open(name, this.locations(name, keyring));
    this.#ledgers.add(db);
    return db;
  }

  /** The store and keyring URLs replica `name` uses (to reopen it after a restart). */
  locations(name: string, keyring = `${name}-device`): { store: string; keyring: string } {
    if (this.storage === "memory") return { store: `memory://${this.#scoped(name)}`, keyring: `memory://${this.#scoped(keyring)}` };
    return { store: `file://${join(this.#root, "stores", name)}`, keyring: `file://${join(this.#root, "keyrings", keyring)}` };
  }

  /** Reopens replica `name` (after it was closed). */
  async reopen(name: string, keyring = `${name}-device`): Promise<Ledger> {
    return this.open(name, keyring);
  }

  /**
   * Attaches `db` to `point`; if the point already has members, `member`
   * (an attached admin) invites `db`'s device first, with `role`.
   */
  async join(db: Ledger, point: string | Remote, member?: Ledger, role?: Role): Promise<Attachment> {
    if (!member) return db.attach(point);
    const { invitations } = await member.invite((await db.device()).publicKey, role ? { role } : {});
    return db.attach(point, { invitation: invitations[0]! });
  }

  /** Closes every replica (and forgets memory sync points) and removes temp directories. */
  async closeAll(): Promise<void> {
    for (const db of this.#ledgers) await db.close().catch(() => undefined);
    this.#ledgers.clear();
    for (const url of this.#memoryRemotes) dropMemoryRemote(url);
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }

  #scopePrefix = uniqueName("peers");
  #scoped(name: string): string {
    return `${this.#scopePrefix}-${name}`;
  }
}

/** Every document of `db` as `{ id: body }`, deleted ones left out. */
export async function docsOf(db: Ledger): Promise<Record<string, unknown>> {
  const { rows } = await db.allDocs();
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}
