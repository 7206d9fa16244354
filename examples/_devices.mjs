// Shared by the examples: a scratch directory, and "devices" that each keep
// their ledgers and their own keyring in it (as separate phones or laptops
// would), plus a file-directory sync point (a shared folder; an app would
// use `http(s)://…?token=…` of a `hearth serve`, or an S3 bucket).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { open } from "@hearth/core";

/** A scratch directory removed when `fn` ends; `fn` gets helpers bound to it. */
export async function scratch(fn) {
  const dir = mkdtempSync(joinPath(tmpdir(), "hearth-example-"));
  const opened = [];
  try {
    await fn({
      /** A sync point: a directory shared by the devices. */
      syncPoint: (name) => `file://${joinPath(dir, "points", name)}`,
      /** Opens ledger `name` on `device` (its own keyring: its own identity). */
      async open(device, name) {
        const db = await open(name, { store: `file://${joinPath(dir, device, name)}`, keyring: `file://${joinPath(dir, device, ".keyring")}` });
        opened.push(db);
        return db;
      },
    });
  } finally {
    await Promise.all(opened.map((db) => db.close().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Joins `db` to `point` as a new device, invited by `admin` (an attachment of an admin device) with `role`. */
export async function join(db, point, admin, role = "writer") {
  const invitation = await admin.invite((await db.device()).publicKey, { role });
  return db.attach(point, { invitation });
}

/** Fails the example (exit 1) unless `actual` deep-equals `expected`. */
export function check(what, actual, expected) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
  console.log(`ok: ${what}`);
}

export const SYNCED = { timeoutMs: 20_000 };
