/**
 * The page of `files-memory.mjs`: writes a generated 1 GiB stream as a file
 * into an IndexedDB ledger and reads it back as a stream, after telling the
 * runner it is ready (so the runner can take the renderer's memory before).
 *
 * @module
 */
import { open } from "../../src/index.browser.js";

declare global {
  // Exposed by the runner before the page loads.
  var __filesMemoryReady: (() => Promise<void>) | undefined;
  var __filesMemoryDone: ((result: { ok: boolean; bytes?: number; putMs?: number; readMs?: number; error?: string }) => Promise<void>) | undefined;
}

const MiB = 1024 * 1024;
/** The file: 1 GiB, made a MiB at a time. */
const FILE_BYTES = 1024 * MiB;

/** A stream of `size` bytes in 1 MiB pieces, never held whole. */
function generated(size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= size) return controller.close();
      const piece = new Uint8Array(Math.min(MiB, size - at));
      for (let i = 0; i < piece.length; i += 512) piece[i] = ((at + i) >> 9) & 0xff;
      at += piece.length;
      controller.enqueue(piece);
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) bytes += next.value.length;
  return bytes;
}

async function run(): Promise<void> {
  const db = await open("files-memory", { store: "indexeddb://files-memory", keyring: "indexeddb://files-memory-keyring" });
  try {
    // Warm up every path first, so the runner's "before" includes the code, not the file.
    await db.put({ _id: "warm", _files: { f: generated(3 * MiB) } });
    await readAll((await db.get("warm"))._files!.f!.stream());
    await globalThis.__filesMemoryReady!();
    const started = performance.now();
    await db.put({ _id: "big", _files: { f: generated(FILE_BYTES) } });
    const written = performance.now();
    const bytes = await readAll((await db.get("big"))._files!.f!.stream());
    await globalThis.__filesMemoryDone!({ ok: true, bytes, putMs: written - started, readMs: performance.now() - written });
  } finally {
    await db.destroy();
  }
}

run().catch((err: unknown) => globalThis.__filesMemoryDone?.({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
