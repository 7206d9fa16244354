/**
 * Node's worker sealer gives the very blocks the portable sealer gives (so
 * where a chunk was sealed changes nothing stored), takes a chunk that is a
 * view into a larger buffer without touching the rest, answers seals sent
 * together each with its own, and fails with `STORAGE_FAILED` (never a
 * wrong block) when the worker cannot seal or is stopped.
 */
import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { CHUNK_BYTES, openChunk } from "../src/files/blocks.js";
import { inlineSealer } from "../src/files/chunk-sealer.js";
import { WorkerSealer } from "../src/files/chunk-sealer-node.js";
import { nodeCipher } from "../src/crypto/cipher-node.js";
import { expectCode } from "./helpers/expect-code.js";
import { expectBytes } from "./helpers/file-bytes.js";

const sealer = new WorkerSealer();
afterEach(() => sealer.close());

describe("the worker sealer", () => {
  it("seals as the inline sealer does, for every chunk size", async () => {
    const secret = randomBytes(32);
    const inline = inlineSealer(nodeCipher);
    for (const size of [1, 1000, CHUNK_BYTES - 1, CHUNK_BYTES]) {
      const chunk = new Uint8Array(randomBytes(size));
      const expected = await inline.seal(secret, chunk.slice());
      const got = await sealer.seal(secret, chunk.slice());
      expect(got.cid.equals(expected.cid)).toBe(true);
      expectBytes(got.key, expected.key);
      expectBytes(got.bytes, expected.bytes);
      const plain = await openChunk(nodeCipher, { cid: got.cid, key: got.key, length: size }, got.bytes, "a test chunk");
      expectBytes(plain, chunk);
    }
  });

  it("copies a chunk that is a view into a larger buffer, and answers seals sent together each with its own", async () => {
    const secret = randomBytes(32);
    const inline = inlineSealer(nodeCipher);
    const backing = new Uint8Array(randomBytes(8 * 1000));
    const before = backing.slice();
    const views = Array.from({ length: 8 }, (_, i) => backing.subarray(i * 1000, (i + 1) * 1000));
    const sealed = await Promise.all(views.map((view) => sealer.seal(secret, view)));
    expectBytes(backing, before); // nothing transferred out from under the caller
    for (const [i, view] of views.entries()) {
      expect(sealed[i]!.cid.equals((await inline.seal(secret, view.slice())).cid)).toBe(true);
    }
    // A Buffer's view too (Buffer.prototype.slice shares memory: the sealer must copy only the view).
    const buffer = randomBytes(3000);
    const view = buffer.subarray(1000, 2000);
    const got = await sealer.seal(secret, view);
    expect(got.bytes.length).toBe(1000 + 16);
    expect(got.cid.equals((await inline.seal(secret, new Uint8Array(view))).cid)).toBe(true);
  });

  it("fails with STORAGE_FAILED when the worker cannot seal or is stopped, and seals again after", async () => {
    await expectCode(sealer.seal(42 as never, new Uint8Array(10)), "STORAGE_FAILED"); // (no key the worker can use)
    const secret = randomBytes(32);
    const pending = sealer.seal(secret, new Uint8Array(randomBytes(CHUNK_BYTES)));
    const stopped = sealer.close();
    // Sealed before the stop reached the worker, or refused: never a wrong block.
    await pending.then(
      (block) => expect(block.bytes.length).toBe(CHUNK_BYTES + 16),
      (err: unknown) => expect((err as { code?: string }).code).toBe("STORAGE_FAILED"),
    );
    await stopped;
    const again = await sealer.seal(secret, new Uint8Array(5));
    expect(again.bytes.length).toBe(5 + 16);
  });
});
