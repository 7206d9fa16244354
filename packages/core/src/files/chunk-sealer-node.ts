/**
 * Node's {@link ChunkSealer}: chunks are sealed on one worker thread, so
 * the ledger's thread stays free to read the file, store the blocks and
 * serve everything else meanwhile (measured: a 256 MiB put from
 * `fs.openAsBlob` took 1.2–1.5 s sealing inline, of which 0.7–0.8 s was
 * the event loop waiting for Blob pieces it had no turn to read).
 *
 * The worker runs a few lines of `node:crypto` given as source
 * (`eval: true`), not a module file: it then starts the same from the
 * TypeScript sources under test, from the built package and from a bundle,
 * with no path to resolve. It computes exactly what `sealChunk` does
 * (`./blocks.ts`): SHA-256 of the chunk, HMAC-SHA256 under the device's
 * file secret for the key, AES-256-GCM with IV 0 and the chunk AAD, and
 * SHA-256 of the sealed bytes for the CID. Chunks and sealed bytes cross
 * as transferred `ArrayBuffer`s (no copy), and the buffers the worker is
 * done with cross back as well: this thread collects often, the worker
 * seldom, and dead chunks left in the worker held ~50–90 MB more at peak
 * (measured: 256 MiB and 1 GiB puts).
 *
 * One worker per process, started on first use and kept only while seals
 * are pending (it holds the process open then, and not after). If it dies,
 * the seals waiting on it fail with `STORAGE_FAILED` and the next seal
 * starts a new one.
 *
 * Node-only.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { create as createDigest } from "multiformats/hashes/digest";
import { sha256 } from "multiformats/hashes/sha2";
import { HearthError } from "../errors.js";
import { CHUNK_AAD_TEXT, type SealedChunk } from "./blocks.js";
import type { ChunkSealer } from "./chunk-sealer.js";

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createCipheriv, createHash, createHmac } = require("node:crypto");
const AAD = Buffer.from(${JSON.stringify(CHUNK_AAD_TEXT)});
const IV = Buffer.alloc(12);
parentPort.on("message", ({ id, secret, chunk }) => {
  try {
    const plain = new Uint8Array(chunk);
    const key = createHmac("sha256", secret).update(createHash("sha256").update(plain).digest()).digest();
    const cipher = createCipheriv("aes-256-gcm", key, IV, { authTagLength: 16 });
    cipher.setAAD(AAD);
    const head = cipher.update(plain);
    const tail = cipher.final();
    const sealed = new Uint8Array(head.length + tail.length + 16);
    sealed.set(head, 0);
    sealed.set(tail, head.length);
    sealed.set(cipher.getAuthTag(), head.length + tail.length);
    const digest = createHash("sha256").update(sealed).digest();
    // The chunk and the cipher's output go back too, as garbage for the ledger's thread, whose
    // collections run often: left here, they would pile up until this idle thread collects.
    const garbage = [chunk];
    if (head.byteOffset === 0 && head.buffer.byteLength === head.length) garbage.push(head.buffer);
    parentPort.postMessage({ id, key: new Uint8Array(key), digest: new Uint8Array(digest), sealed: sealed.buffer, garbage }, [sealed.buffer, ...garbage]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

interface Reply {
  readonly id: number;
  readonly key?: Uint8Array;
  readonly digest?: Uint8Array;
  readonly sealed?: ArrayBuffer;
  readonly error?: string;
}

interface Waiting {
  resolve(sealed: SealedChunk): void;
  reject(err: unknown): void;
}

/** See the module docs. */
export class WorkerSealer implements ChunkSealer {
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 0;

  seal(secret: Uint8Array, chunk: Uint8Array): Promise<SealedChunk> {
    const worker = this.#started();
    const id = this.#nextId++;
    // Transferred when the chunk is its buffer's only view; copied otherwise (a view into a
    // larger or pooled buffer). `new Uint8Array(view)` copies even a Buffer, whose slice() does not.
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const buffer = owned ? (chunk.buffer as ArrayBuffer) : new Uint8Array(chunk).buffer;
    return new Promise<SealedChunk>((resolve, reject) => {
      if (this.#waiting.size === 0) worker.ref();
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, secret, chunk: buffer }, [buffer]);
    });
  }

  /** Stops the worker: seals still waiting fail with `STORAGE_FAILED`; a later seal starts a new one. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#failed(worker, new Error("the sealer was closed"));
    await worker.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (reply: Reply) => this.#answered(reply));
    worker.on("error", (err) => this.#failed(worker, err));
    worker.on("exit", (code) => this.#failed(worker, new Error(`the worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #answered(reply: Reply): void {
    const waiting = this.#waiting.get(reply.id);
    if (!waiting) return;
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#worker?.unref();
    if (reply.error !== undefined || !reply.key || !reply.digest || !reply.sealed) {
      waiting.reject(new HearthError("STORAGE_FAILED", `sealing a file chunk failed (${reply.error ?? "no reply"}); put the file again`));
      return;
    }
    const cid = CID.createV1(raw.code, createDigest(sha256.code, reply.digest));
    waiting.resolve({ cid, key: reply.key, bytes: new Uint8Array(reply.sealed) });
  }

  #failed(worker: Worker, cause: unknown): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(new HearthError("STORAGE_FAILED", "the thread sealing file chunks stopped; put the file again", { cause }));
  }
}

/** The process's one worker sealer (its thread starts on first use). */
export const workerSealer: ChunkSealer = new WorkerSealer();
