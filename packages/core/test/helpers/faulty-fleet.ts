/**
 * A fleet of replicas for the sync property test: each replica is its own
 * device (own keyring) with its own store, attached to one shared memory
 * sync point through its own {@link faultyRemote} wrapper, so every replica
 * sees a differently misbehaving network. The fleet runs generated
 * commands (writes, detach/re-attach, restart, offline, time passing) and
 * records every acknowledged write, so the test can check afterwards that
 * none was lost to a merge or a sync.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { open, type Ledger } from "../../src/index.node.js";
import { isHearthError } from "../../src/errors.js";
import { dropMemoryRemote, openMemoryRemote } from "../../src/remote/memory.js";
import type { Remote } from "../../src/remote/types.js";
import type { Attachment } from "../../src/sync/attachment.js";
import { faultyRemote, type FaultyRemote, type FaultyRemoteOptions } from "../../src/testing/faulty-remote.js";
import type { AckedWrite } from "./convergence-scenario.js";

/** Where a replica keeps its store and keyring. */
export type ReplicaStorage = "memory" | "file";

/** Fault rates one replica's wrappers inject (the seed is added per wrapper). */
export type FaultProfile = Omit<FaultyRemoteOptions, "seed">;

/** A generated document: an id from a small pool (so writes collide) and an indexed field. */
export interface DocSpec {
  readonly id: string;
  readonly n: number;
}

/** One step of a generated run; replica numbers are taken modulo the fleet size. */
export type FleetCommand =
  | { readonly t: "put"; readonly r: number; readonly doc: DocSpec }
  | { readonly t: "del"; readonly r: number; readonly id: string }
  | { readonly t: "bulk"; readonly r: number; readonly docs: readonly DocSpec[] }
  /** Every replica writes at once (concurrent writers, concurrent pushes). */
  | { readonly t: "burst"; readonly docs: readonly DocSpec[] }
  /** Detaches the replica if it is attached, re-attaches it otherwise. */
  | { readonly t: "detach"; readonly r: number }
  /** Closes the ledger (detaching it) and reopens it from the same store and keyring. */
  | { readonly t: "restart"; readonly r: number }
  /** The replica (if attached and online) rotates the sync point key, retrying while its wrapper fails. */
  | { readonly t: "rotate"; readonly r: number }
  /** Toggles the replica's current wrapper offline / online. */
  | { readonly t: "offline"; readonly r: number }
  /** Lets the event loop run for a few macrotask turns. */
  | { readonly t: "pass"; readonly turns: number };

/** One replica of the fleet. */
interface Replica {
  readonly index: number;
  readonly name: string;
  readonly storage: ReplicaStorage;
  readonly faults: FaultProfile;
  ledger: Ledger;
  remote: FaultyRemote | undefined;
  attachment: Attachment | undefined;
  offline: boolean;
}

/** Most attach (or invite) attempts while the wrapper keeps failing: far more than any fault rate here needs. */
const MAX_ATTEMPTS = 200;


let fleets = 0;

/** Lets `n` macrotask turns pass: other tasks (timers, I/O, the sync loops) run in between. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** See the module docs. */
export class Fleet {
  /** The shared sync point every wrapper talks to. */
  readonly url: string;
  readonly replicas: Replica[] = [];
  /** Every acknowledged write, in order of acknowledgement. */
  readonly writes: AckedWrite[] = [];
  /** Every wrapper ever made (their fault counts show what a run exercised). */
  readonly wrappers: FaultyRemote[] = [];
  readonly #seed: number;
  readonly #dir: string;
  #generation = 0;
  #order = 0;
  #w = 0;

  private constructor(seed: number) {
    this.#seed = seed;
    const tag = `${process.pid}-${fleets++}`;
    this.url = `memory://sync-prop-${tag}`;
    this.#dir = mkdtempSync(join(tmpdir(), "hearth-sync-prop-"));
  }

  /**
   * Opens `storages.length` replicas; the first attaches (creating the sync
   * point's key) and invites each other device, which then attaches.
   */
  static async start(seed: number, storages: readonly ReplicaStorage[], faults: readonly FaultProfile[]): Promise<Fleet> {
    const fleet = new Fleet(seed);
    try {
      for (let i = 0; i < storages.length; i++) {
        const replica: Replica = {
          index: i,
          name: `r${i}`,
          storage: storages[i]!,
          faults: faults[i % faults.length]!,
          ledger: undefined as unknown as Ledger,
          remote: undefined,
          attachment: undefined,
          offline: false,
        };
        replica.ledger = await fleet.#open(replica);
        fleet.replicas.push(replica);
      }
      const [first, ...others] = fleet.replicas;
      await fleet.#attach(first!);
      for (const replica of others) {
        const { publicKey } = await replica.ledger.device();
        // Admins all: any replica may rotate (concurrent rotations are part of what is tested).
        const { invitations } = await retrying(`invite ${replica.name}`, () => first!.ledger.invite(publicKey, { role: "admin" }));
        await fleet.#attach(replica, { invitation: invitations[0]! });
      }
      return fleet;
    } catch (err) {
      await fleet.dispose();
      throw err;
    }
  }

  /** Runs one command. */
  async run(command: FleetCommand): Promise<void> {
    const n = this.replicas.length;
    switch (command.t) {
      case "put": {
        const replica = this.replicas[command.r % n]!;
        const body = this.#body(replica, command.doc);
        const { clock } = await replica.ledger.put({ _id: command.doc.id, ...body });
        this.#record(command.doc.id, clock, body);
        return;
      }
      case "del": {
        const { clock } = await this.replicas[command.r % n]!.ledger.del(command.id);
        this.#record(command.id, clock, null);
        return;
      }
      case "bulk": {
        const replica = this.replicas[command.r % n]!;
        const bodies = command.docs.map((spec) => this.#body(replica, spec));
        const { clock } = await replica.ledger.bulk(command.docs.map((spec, i) => ({ _id: spec.id, ...bodies[i] })));
        command.docs.forEach((spec, i) => this.#record(spec.id, clock, bodies[i]!));
        return;
      }
      case "burst": {
        await Promise.all(this.replicas.map(async (replica) => {
          const spec = command.docs[replica.index % command.docs.length]!;
          const body = this.#body(replica, spec);
          const { clock } = await replica.ledger.put({ _id: spec.id, ...body });
          this.#record(spec.id, clock, body);
        }));
        return;
      }
      case "detach": {
        const replica = this.replicas[command.r % n]!;
        if (replica.attachment) await this.#detach(replica);
        else await this.#attach(replica);
        return;
      }
      case "restart": {
        const replica = this.replicas[command.r % n]!;
        const wasAttached = replica.attachment !== undefined;
        // Sync may still merge while it closes, so the state can only have grown.
        const before = replica.ledger.heads();
        // close() detaches (and flushes what it can) before it closes the store.
        await replica.ledger.close();
        replica.attachment = undefined;
        await this.#dropRemote(replica);
        replica.ledger = await this.#open(replica);
        for (const head of before) {
          if (!(await replica.ledger.hasEvent(head))) throw new Error(`${replica.name} lost event ${head} across a restart`);
        }
        if (wasAttached) await this.#attach(replica);
        return;
      }
      case "rotate": {
        const replica = this.replicas[command.r % n]!;
        const attachment = replica.attachment;
        // Offline, a rotation can only fail; an app would rotate once back online.
        if (attachment && !replica.offline) await retrying(`rotate the key from ${replica.name}`, () => attachment.rotateKey());
        return;
      }
      case "offline": {
        const replica = this.replicas[command.r % n]!;
        if (!replica.remote) return;
        replica.offline = !replica.offline;
        replica.remote.setOffline(replica.offline);
        return;
      }
      case "pass":
        return turns(command.turns);
    }
  }

  /**
   * Ends the faults: heals every wrapper (which also brings it online) and
   * attaches every detached replica through a healed wrapper.
   */
  async heal(): Promise<void> {
    for (const replica of this.replicas) {
      replica.remote?.heal();
      replica.offline = false;
    }
    for (const replica of this.replicas) if (!replica.attachment) await this.#attach(replica, { healed: true });
    await Promise.all(this.wrappers.map((w) => w.settled()));
  }

  /** The attachments of every replica (all attached after {@link heal}). */
  attachments(): Attachment[] {
    return this.replicas.map((r) => {
      if (!r.attachment) throw new Error(`${r.name} is not attached`);
      return r.attachment;
    });
  }

  ledgers(): Ledger[] {
    return this.replicas.map((r) => r.ledger);
  }

  /** Closes everything and deletes the fleet's stores and sync point. */
  async dispose(): Promise<void> {
    for (const replica of this.replicas) {
      if (replica.storage === "memory") {
        // destroy() also frees the process-wide memory store; a ledger left
        // closed by a failed restart is reopened to be destroyed.
        await replica.ledger.destroy().catch(async () => (await open(replica.name, this.#locations(replica))).destroy()).catch(() => undefined);
      } else {
        await replica.ledger.close().catch(() => undefined);
      }
    }
    for (const wrapper of this.wrappers) await wrapper.close().catch(() => undefined);
    dropMemoryRemote(this.url);
    rmSync(this.#dir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- internals

  #locations(replica: Replica): { store: string; keyring: string } {
    if (replica.storage === "memory") {
      const scope = `${this.url.slice("memory://".length)}-${replica.name}`;
      return { store: `memory://${scope}-store`, keyring: `memory://${scope}-keyring` };
    }
    return {
      store: pathToFileURL(join(this.#dir, replica.name, "store")).href,
      keyring: pathToFileURL(join(this.#dir, replica.name, "keyring")).href,
    };
  }

  #open(replica: Replica): Promise<Ledger> {
    return open(replica.name, this.#locations(replica));
  }

  /** Attaches `replica` through a new wrapper, retrying while the wrapper's faults make attach fail. */
  async #attach(replica: Replica, options: { healed?: boolean; invitation?: string } = {}): Promise<void> {
    const seed = (this.#seed + 7919 * replica.index + 104_729 * ++this.#generation) >>> 0;
    const inner = await openMemoryRemote(this.url);
    const remote = faultyRemote(inner, { ...replica.faults, seed });
    if (options.healed) remote.heal();
    this.wrappers.push(remote);
    replica.remote = remote;
    replica.offline = false;
    // Membership entries are listed complete (failures and delays still
    // apply): an attach that sees no entry takes the point for empty and
    // founds one, so a listing that hides fresh names (weaker than the
    // Remote contract) would fork the point — see the report of issue 3.
    const target: Remote = {
      url: remote.url,
      supports: remote.supports,
      put: (name, bytes) => remote.put(name, bytes),
      get: (name) => remote.get(name),
      list: async (prefix) => {
        const names = await remote.list(prefix);
        return prefix.startsWith("m/") ? inner.list(prefix) : names;
      },
      delete: (name) => remote.delete(name),
      ...(remote.watch && { watch: remote.watch.bind(remote) }),
      close: () => remote.close(),
    };
    const invitation = options.invitation;
    replica.attachment = await retrying(`attach ${replica.name}`, () => replica.ledger.attach(target, invitation ? { invitation } : {}));
  }

  async #detach(replica: Replica): Promise<void> {
    await replica.attachment?.detach();
    replica.attachment = undefined;
    await this.#dropRemote(replica);
  }

  async #dropRemote(replica: Replica): Promise<void> {
    const remote = replica.remote;
    replica.remote = undefined;
    replica.offline = false;
    await remote?.close();
  }

  #body(replica: Replica, spec: DocSpec): Record<string, unknown> {
    return { w: this.#w++, r: replica.index, n: spec.n };
  }

  #record(id: string, clock: readonly string[], body: Record<string, unknown> | null): void {
    // A local commit's event has every head as a parent, so it is the only head right after it.
    if (clock.length !== 1) throw new Error(`a local write returned a clock of ${clock.length} heads`);
    this.writes.push({ id, event: clock[0]!, order: this.#order++, body });
  }
}

/**
 * Runs `op` until it does not fail with `STORAGE_FAILED` (an injected
 * transient fault), letting a turn pass between attempts.
 */
async function retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isHearthError(err, "STORAGE_FAILED") || attempt >= MAX_ATTEMPTS) {
        throw new Error(`${what} failed (attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    await turns(1);
  }
}
