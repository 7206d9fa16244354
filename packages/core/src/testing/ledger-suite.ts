/**
 * The ledger conformance suite: the core API over any store, portable so it
 * runs under vitest (memory and file stores) and in a real browser page
 * (memory and IndexedDB). The exhaustive option-by-option tests live in
 * `test/ledger.test.ts`; this suite is what every store must support.
 *
 * @module
 */
import type { Ledger } from "../ledger/ledger.js";
import { HearthError } from "../errors.js";
import { check, checkEqual, checkRejects, type TestCase } from "./harness.js";
import { concatBytes } from "../crypto/encoding.js";

/** Opens a fresh ledger for one case; `reopen` opens the same storage again after `close`. */
export interface LedgerFactory {
  readonly label: string;
  open(): Promise<{ db: Ledger; reopen: () => Promise<Ledger>; openWithOtherKeyring?: () => Promise<Ledger> }>;
}

/** The conformance cases for `factory`. */
export function ledgerConformance(factory: LedgerFactory): TestCase[] {
  const cases: TestCase[] = [];
  const add = (name: string, run: (ctx: Awaited<ReturnType<LedgerFactory["open"]>>) => Promise<void>): void => {
    cases.push({
      name: `${factory.label}: ${name}`,
      run: async () => {
        const ctx = await factory.open();
        try {
          await run(ctx);
        } finally {
          await ctx.db.close().catch(() => undefined);
        }
      },
    });
  };

  add("put, get, del", async ({ db }) => {
    const { id } = await db.put({ title: "milk", done: false });
    checkEqual(await db.get(id), { _id: id, title: "milk", done: false });
    await db.del(id);
    await checkRejects(db.get(id), "NOT_FOUND");
  });

  add("bulk, allDocs with prefix and descending", async ({ db }) => {
    await db.bulk([{ _id: "b1" }, { _id: "a1" }, { _id: "b2" }]);
    checkEqual((await db.allDocs()).rows.map((r) => r.key), ["a1", "b1", "b2"]);
    checkEqual((await db.allDocs({ prefix: "b", descending: true })).rows.map((r) => r.key), ["b2", "b1"]);
  });

  add("query by field and by map function", async ({ db }) => {
    await db.bulk([{ _id: "x", n: 2 }, { _id: "y", n: 1 }, { _id: "z" }]);
    checkEqual((await db.query("n")).rows.map((r) => r.id), ["y", "x"]);
    checkEqual((await db.query((d) => (typeof d.n === "number" ? -d.n : undefined))).rows.map((r) => r.id), ["x", "y"]);
  });

  add("Uint8Array fields at any depth round-trip, also after reopen, and index after strings", async ({ db, reopen }) => {
    const bytes = new Uint8Array([0, 1, 254, 255]);
    await db.bulk([{ _id: "bin", b: bytes, nested: { list: [new Uint8Array([7])] } }, { _id: "str", b: "zzz" }]);
    checkEqual(await db.get("bin"), { _id: "bin", b: bytes, nested: { list: [new Uint8Array([7])] } });
    checkEqual((await db.query("b")).rows.map((r) => r.id), ["str", "bin"]);
    await db.close();
    const again = await reopen();
    try {
      const doc = await again.get("bin");
      check(doc.b instanceof Uint8Array, "bytes come back as a Uint8Array after reopen");
      checkEqual(doc, { _id: "bin", b: bytes, nested: { list: [new Uint8Array([7])] } });
      checkEqual((await again.query("b", { key: bytes })).rows.map((r) => r.id), ["bin"]);
    } finally {
      await again.close();
    }
  });

  add("changes from a clock", async ({ db }) => {
    const first = await db.put({ _id: "one" });
    await db.put({ _id: "two" });
    checkEqual((await db.changes(first.clock)).rows.map((r) => r.key), ["two"]);
  });

  add("subscribe fires with changed docs", async ({ db }) => {
    const seen: string[] = [];
    const off = db.subscribe((docs) => seen.push(...docs.map((d) => d._id)));
    await db.bulk([{ _id: "s1" }, { _id: "s2" }]);
    off();
    await db.put({ _id: "s3" });
    checkEqual(seen, ["s1", "s2"]);
  });

  add("invalid documents are INVALID_DOC", async ({ db }) => {
    await checkRejects(db.put({ f: () => 1 }), "INVALID_DOC");
    await checkRejects(db.put({ _id: 7 } as never), "INVALID_DOC");
  });

  add("data, root and indexes survive close and reopen", async ({ db, reopen }) => {
    await db.bulk(Array.from({ length: 300 }, (_, i) => ({ _id: `d${String(i).padStart(3, "0")}`, i })));
    await db.del("d007");
    checkEqual((await db.query("i", { range: [5, 8] })).rows.map((r) => r.id), ["d005", "d006", "d008"]);
    const root = await db.root();
    await db.close();
    await checkRejects(db.get("d001"), "STORE_CLOSED");
    const again = await reopen();
    try {
      checkEqual(await again.root(), root);
      checkEqual((await again.allDocs()).rows.length, 299);
      checkEqual(await again.get("d042"), { _id: "d042", i: 42 });
      await again.put({ _id: "d007", i: 7 });
      checkEqual((await again.query("i", { range: [5, 8] })).rows.map((r) => r.id), ["d005", "d006", "d007", "d008"]);
    } finally {
      await again.close();
    }
  });

  add("a keyring without the store's key gets KEY_REQUIRED", async ({ db, openWithOtherKeyring }) => {
    if (!openWithOtherKeyring) return;
    await db.put({ _id: "secret" });
    await db.close();
    const err = await checkRejects(openWithOtherKeyring(), "KEY_REQUIRED");
    check(err instanceof HearthError && err.message.length > 0, "KEY_REQUIRED carries a message");
  });

  add("two replicas converge after exchanging events", async ({ db }) => {
    const other = await factory.open();
    try {
      await db.put({ _id: "k", from: "a" });
      await other.db.put({ _id: "k", from: "b" });
      await other.db.ingest(await Promise.all(db.heads().map((h) => db.eventBlock(h))));
      await db.ingest(await Promise.all(other.db.heads().map((h) => other.db.eventBlock(h))));
      checkEqual(await db.root(), await other.db.root());
      checkEqual(await db.get("k", { conflicts: true }), await other.db.get("k", { conflicts: true }));
    } finally {
      await other.db.close();
    }
  });

  add("files: bytes, Blob and stream round-trip across chunks, and survive reopen", async ({ db, reopen }) => {
    const big = patterned(2 * 1024 * 1024 + 77, 3);
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= big.length) return controller.close();
        controller.enqueue(big.slice(at, at + 100_000));
        at += 100_000;
      },
    });
    await db.put({ _id: "f", _files: { bytes: patterned(1000, 1), blob: new Blob([big as Uint8Array<ArrayBuffer>], { type: "image/png" }), stream } });
    const check3 = async (ledger: Ledger): Promise<void> => {
      const files = (await ledger.get("f"))._files!;
      checkEqual(Object.keys(files).sort(), ["blob", "bytes", "stream"]);
      checkEqual(files.blob!.type, "image/png");
      checkEqual(files.blob!.size, big.length);
      checkEqual(files.stream!.cid, files.blob!.cid);
      check(sameBytes(new Uint8Array(await (await files.bytes!.file()).arrayBuffer()), patterned(1000, 1)), "bytes round-trip");
      check(sameBytes(new Uint8Array(await (await files.blob!.file()).arrayBuffer()), big), "Blob round-trips");
      check(sameBytes(await collect(files.stream!.stream()), big), "stream round-trips");
    };
    await check3(db);
    await db.close();
    const again = await reopen();
    try {
      await check3(again);
    } finally {
      await again.close();
    }
  });

  add("files: kept by updates that leave _files out, removed by null", async ({ db }) => {
    await db.put({ _id: "d", _files: { a: patterned(10, 1), b: patterned(10, 2) } });
    await db.put({ _id: "d", v: 1 });
    checkEqual(Object.keys((await db.get("d"))._files!).sort(), ["a", "b"]);
    await db.put({ _id: "d", v: 2, _files: { a: null } });
    checkEqual(Object.keys((await db.get("d"))._files!), ["b"]);
    await db.put({ _id: "d", _files: null });
    checkEqual((await db.get("d"))._files, undefined);
  });

  add("files: another replica's file reads NOT_FOUND until its bytes are here", async ({ db }) => {
    const other = await factory.open();
    try {
      await db.put({ _id: "d", _files: { a: patterned(5000, 4) } });
      await other.db.ingest(await Promise.all(db.heads().map((h) => db.eventBlock(h))));
      const file = (await other.db.get("d"))._files!.a!;
      checkEqual(file.size, 5000);
      await checkRejects(file.file(), "NOT_FOUND");
    } finally {
      await other.db.close();
    }
  });

  return cases;
}

/** `length` bytes of a simple pattern per `seed` (portable; not meant to be incompressible). */
function patterned(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value);
  return concatBytes(...parts);
}
