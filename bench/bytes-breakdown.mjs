// Where the bytes of the bench's `seq` ledger go: writes N sequential puts
// (the bench's documents), builds the `done` index, closes, then reads the
// store back and sums the stored (sealed) value sizes by kind. A tool for
// working on the on-disk format; not part of `npm run bench`.
//
//   npm run build && node bench/bytes-breakdown.mjs [N] [documents per write]
import { mkdtempSync, readdirSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { open, openFileStore, openFileKeyring, openEncryptedStore } from "@hearth/core";
import { decode } from "@ipld/dag-cbor";
import { makeDoc } from "./workload.mjs";

const N = Number(process.argv[2] ?? 10_000);
/** Documents per write: 1 (one `put` each, the default) or more (`bulk` writes of that many, as the browser bench loads). */
const BULK = Number(process.argv[3] ?? 1);
const dir = mkdtempSync(path.join(tmpdir(), "hearth-bytes-"));
const keyringUrl = pathToFileURL(path.join(dir, "keyring")).href;
const storeUrl = pathToFileURL(path.join(dir, "seq")).href;
try {
  const db = await open("seq", { store: storeUrl, keyring: keyringUrl });
  if (BULK > 1) {
    for (let i = 0; i < N; i += BULK) await db.bulk(Array.from({ length: Math.min(BULK, N - i) }, (_, j) => makeDoc(i + j)));
  } else {
    for (let i = 0; i < N; i++) await db.put(makeDoc(i));
  }
  await db.query("done", { key: true });
  await db.close();
  const onDisk = readdirSync(path.join(dir, "seq")).reduce((sum, f) => sum + statSync(path.join(dir, "seq", f)).size, 0);

  const raw = await openFileStore(path.join(dir, "seq"));
  const keyring = await openFileKeyring(keyringUrl);
  const store = await openEncryptedStore(raw, keyring, { create: false });
  const kinds = new Map();
  const add = (kind, key, sealed, plain) => {
    const k = kinds.get(kind) ?? { count: 0, keys: 0, sealed: 0, plain: 0 };
    k.count++;
    k.keys += key.length;
    k.sealed += sealed;
    k.plain += plain;
    kinds.set(kind, k);
  };
  for (const key of await raw.list("")) {
    const sealed = (await raw.get(key)).length;
    if (key === "~keyid") {
      add("keyid", key, sealed, sealed);
      continue;
    }
    const plain = await store.get(key);
    let kind = key.split("/")[0];
    if (kind === "nd") kind = `nd ${decode(plain).tag}`;
    add(kind, key, sealed, plain.length);
  }
  await store.close();
  await keyring.close?.();
  console.log(`${N} sequential ${BULK > 1 ? `documents in bulk writes of ${BULK}` : "puts"}; directory ${(onDisk / 1e6).toFixed(3)} MB`);
  console.log("kind                      count     keys(B)   sealed(B)  plaintext(B)");
  let total = 0;
  for (const [kind, k] of [...kinds].sort()) {
    total += k.sealed + k.keys;
    console.log(`${kind.padEnd(24)} ${String(k.count).padStart(6)} ${String(k.keys).padStart(11)} ${String(k.sealed).padStart(11)} ${String(k.plain).padStart(13)}`);
  }
  console.log(`values + keys ${(total / 1e6).toFixed(3)} MB; log framing and the rest ${((onDisk - total) / 1e6).toFixed(3)} MB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
