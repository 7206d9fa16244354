/**
 * The relay: members put back the bundles of devices that can no longer
 * push them.
 *
 * A writer pushes its own bundles again when the sync point loses or
 * withholds them (`./outbox.ts`). A device that was removed (or demoted to
 * reader) cannot: its earlier writes were valid, others built on them, and
 * a replica that never fetched them could then never merge anything built
 * on top (its later bundles wait for parents that no one serves). Before
 * this module, a hostile point that withheld a removed device's last
 * bundle split the members for good: whoever had merged it moved on, a
 * replica that had not stayed "behind" forever.
 *
 * So every replica keeps, for each bundle it merged from another device,
 * the write statements that vouched for it (`b/<cid>` in the attachment's
 * bookkeeping; the events themselves are in the ledger). At attach and on
 * the slow poll, a bundle it merged that the point no longer lists, whose
 * authors are no longer writers, is sealed again under the current key
 * with the same statements and the events this replica holds, and stored
 * under its new name. Readers judge it exactly as they judged the
 * original (the statements are the author's, signed; a removal's cutoff
 * applies the same way), find it by the bundle scan they run whenever an
 * announced head stays unknown, and merge it. Nothing new is trusted: the
 * relaying replica vouches for nothing, it only carries signed writes.
 *
 * Bundles of current writers are left to their authors: relaying them too
 * would store every write once per member whenever a point lost data.
 * (A device that is gone for good without being removed holds its bundles
 * back the same way; removing it lets the others relay them.)
 *
 * Costs: one `bundle/` listing per verify (shared with the outbox's), a
 * read of the record of each bundle the listing lacks, and, per bundle
 * merged from others, its statement (~36 bytes per event) kept in the
 * bookkeeping.
 *
 * @module
 */
import * as dagCbor from "@ipld/dag-cbor";
import type { CID } from "multiformats/cid";
import type { Remote } from "../remote/types.js";
import { openStatement, type Statement } from "../trust/statement.js";
import type { SyncLogger } from "./logger.js";
import { BUNDLE_PREFIX, seenBundleKey, type PointMeta } from "./layout.js";
import type { PointTrust } from "./point-trust.js";
import type { ReplicaPort } from "./port.js";
import { sealBundle, type SealContext } from "./protocol.js";

const EMPTY = new Uint8Array(0);

/** The bookkeeping value of a bundle merged from others: the statements that vouched for it. */
export function encodeRelayRecord(statements: readonly Uint8Array[]): Uint8Array {
  return dagCbor.encode(statements);
}

function decodeRelayRecord(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length === 0) return [];
  try {
    const value = dagCbor.decode(bytes) as unknown;
    return Array.isArray(value) && value.every((s) => s instanceof Uint8Array) ? (value as Uint8Array[]) : [];
  } catch {
    return []; // a record this version does not read is not relayed
  }
}

/** What the relay needs. */
export interface RelayDeps {
  readonly port: Pick<ReplicaPort, "eventBytes" | "signer">;
  readonly remote: Remote;
  readonly seal: SealContext;
  readonly meta: PointMeta;
  readonly trust: PointTrust;
  readonly logger: SyncLogger;
  /** Tells the inbox a bundle needs no fetch (this replica holds its events). */
  onRelayed(bundle: string): void;
}

/** See the module docs. */
export class Relay {
  readonly #deps: RelayDeps;

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  /**
   * Puts back every bundle merged here from a device that is no longer a
   * writer and that the point no longer lists (`listing`: its `bundle/`
   * names, listed once and shared with the outbox). Does nothing unless
   * this device may write. Returns how many it put back.
   */
  async restore(listing: () => Promise<ReadonlySet<string>>): Promise<number> {
    const { meta, trust } = this.#deps;
    if (!this.#mayWrite()) return 0;
    let restored = 0;
    const keys = await meta.list("b/");
    if (keys.length === 0) return 0;
    const listed = await listing();
    for (const key of keys) {
      const bundle = BUNDLE_PREFIX + key.slice(2);
      if (listed.has(bundle)) continue;
      // Only bundles gone from the point are read; own bundles are recorded empty (the outbox verifies those).
      const record = await meta.get(key);
      if (!record || record.length === 0) continue;
      const statements = await this.#statements(record);
      if (statements.length === 0) continue;
      const resolution = trust.resolution();
      const writing = statements.some((s) => {
        const role = resolution.members.get(s.author.fingerprint)?.role;
        return !resolution.removed.has(s.author.fingerprint) && (role === "admin" || role === "writer");
      });
      if (writing) continue; // its author pushes it again itself
      if (await this.#put(bundle, key, statements)) restored++;
    }
    return restored;
  }

  #mayWrite(): boolean {
    const { trust } = this.#deps;
    const role = trust.role();
    return !trust.removed() && (role === "admin" || role === "writer");
  }

  async #statements(record: Uint8Array): Promise<Statement[]> {
    const out: Statement[] = [];
    for (const bytes of decodeRelayRecord(record)) {
      try {
        out.push(await openStatement(bytes, this.#deps.port.signer));
      } catch {
        // Checked when it was merged; a record that no longer opens is not relayed.
      }
    }
    return out;
  }

  /** Seals the events `statements` vouch for (those held here) as a new bundle, stores it, and moves the record to it. */
  async #put(gone: string, key: string, statements: readonly Statement[]): Promise<boolean> {
    const { port, remote, seal, meta, trust, logger } = this.#deps;
    const events: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const statement of statements) {
      for (const cid of statement.events as readonly CID[]) {
        const id = cid.toString();
        if (seen.has(id)) continue;
        seen.add(id);
        const bytes = await port.eventBytes(cid);
        if (bytes) events.push(bytes);
      }
    }
    if (events.length === 0) return false;
    const content = { events, statements: statements.map((s) => s.bytes) };
    const bundle = await sealBundle(seal, trust.writeKey(), content);
    await remote.put(bundle.name, bundle.bytes);
    // The new bundle carries the record on; the old one, if the point shows it again, is merged as any other.
    await meta.write([[seenBundleKey(bundle.name), encodeRelayRecord(content.statements)], [key, EMPTY]]);
    this.#deps.onRelayed(bundle.name);
    logger("relay", { gone, bundle: bundle.name, events: events.length });
    return true;
  }
}
