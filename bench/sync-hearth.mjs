// Hearth's sync adapter: every replica has its own keyring (a separate
// device), so each set-up goes through the real key ceremony: the first
// replica attaches (and creates the sync point key), every other one is
// invited by an attached member for its device's public key, then attaches.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileUrl } from "./sync-engines.mjs";

/**
 * @param {"memory" | "file"} remote
 * @param {string} dir
 * @param {{ settleTimeoutMs: number }} limits
 * @returns {Promise<import("./sync-engines.mjs").SyncEngine>}
 */
export async function loadHearthSync(remote, dir, { settleTimeoutMs }) {
  const { open } = await import("@hearth/core");
  const file = remote === "file";
  const point = file ? fileUrl(path.join(dir, "remote")) : "memory://bench-sync-point";
  if (file) await mkdir(path.join(dir, "remote"), { recursive: true });
  /** @type {Array<{ db: any, attachment?: any }>} */
  const opened = [];

  async function openReplica(name) {
    const db = await open(name, {
      store: file ? fileUrl(path.join(dir, name)) : `memory://bench-sync-${name}`,
      keyring: file ? fileUrl(path.join(dir, `keyring-${name}`)) : `memory://bench-sync-keyring-${name}`,
    });
    const entry = { db };
    opened.push(entry);
    return entry;
  }

  async function invite(inviter, entry) {
    const { publicKey } = await entry.db.device();
    entry.invitation = (await inviter.db.invite(publicKey)).invitations[0];
  }

  async function attach(entry) {
    entry.attachment = await entry.db.attach(point, entry.invitation ? { invitation: entry.invitation } : {});
  }

  const synced = (entry) => entry.attachment.synced({ timeoutMs: settleTimeoutMs });
  const entryOf = new WeakMap();

  /** @returns {import("./sync-engines.mjs").Replica} */
  function replica(entry) {
    const { db } = entry;
    const r = {
      put: (doc) => db.put(doc),
      bulk: (docs) => db.bulk(docs),
      onDocs: (fn) => db.subscribe((docs) => fn(docs.map((d) => d._id))),
      count: async () => (await db.allDocs()).rows.length,
      root: () => db.root(),
    };
    entryOf.set(r, entry);
    return r;
  }

  async function closeEntry(entry) {
    await entry.attachment?.detach().catch(() => {});
    await entry.db.close();
  }

  return {
    notes: ["Hearth: one keyring per replica (separate devices): first attaches, the others are invited, then attach; settle = attachment.synced()"],
    hasSynced: true,
    async pair() {
      const a = await openReplica("a");
      await attach(a);
      const b = await openReplica("b");
      await invite(a, b);
      await attach(b);
      await Promise.all([synced(a), synced(b)]);
      return { a: replica(a), b: replica(b) };
    },
    async lateJoiner(write) {
      const b = await openReplica("b");
      const a = await openReplica("a");
      await attach(a);
      await invite(a, b);
      await write(replica(a));
      await synced(a);
      await closeEntry(a);
      opened.splice(opened.indexOf(a), 1);
      return {
        b: replica(b),
        async join() {
          await attach(b);
          await synced(b);
        },
      };
    },
    async group(k) {
      const entries = [];
      for (let j = 0; j < k; j++) {
        const entry = await openReplica(`r${j}`);
        if (j > 0) await invite(entries[0], entry);
        await attach(entry);
        entries.push(entry);
      }
      await Promise.all(entries.map(synced));
      return entries.map(replica);
    },
    async settle(replicas) {
      await Promise.all(replicas.map((r) => synced(entryOf.get(r))));
    },
    logged: () => [],
    async close() {
      for (const entry of opened.splice(0)) await closeEntry(entry).catch(() => {});
    },
  };
}
