import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { browserCompression } from "../src/crypto/compression-browser.js";
import { frameValue, unframeValue, COMPRESS_MIN_BYTES_BACKGROUND } from "../src/crypto/compression.js";
import { nodeCompression } from "../src/crypto/compression-node.js";

const SCRATCH = 256 * 1024;
const repetitive = (length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7) % 13 === 0 ? i & 0xff : 97 + (i % 5);
  return out;
};

describe("browser compression (fflate)", () => {
  it("round-trips any bytes through the value framing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const frame = frameValue(bytes, browserCompression, 0);
        expect(await unframeValue(frame, browserCompression, "t")).toEqual(bytes);
      }),
    );
  });

  it("inflates outputs smaller than, exactly the size of, and larger than its reused buffer", () => {
    for (const length of [0, 1, 300, 4096, SCRATCH - 1, SCRATCH, SCRATCH + 1, 3 * SCRATCH]) {
      const value = repetitive(length);
      const back = browserCompression.inflate(browserCompression.deflate(value) as Uint8Array) as Uint8Array;
      // Buffer.equals: toEqual walks large typed arrays element by element, for seconds.
      expect(Buffer.from(back.buffer, back.byteOffset, back.length).equals(value), `length ${length}`).toBe(true);
    }
  });

  it("inflates a sized frame at any length, and refuses one whose stated length is off either way", async () => {
    const sized = (length: number, deflated: Uint8Array): Uint8Array => {
      const head = [2];
      for (let rest = length; ; rest = Math.floor(rest / 128)) {
        if (rest < 128) {
          head.push(rest);
          break;
        }
        head.push((rest % 128) | 0x80);
      }
      return Uint8Array.from([...head, ...deflated]);
    };
    for (const length of [1, 300, 4096, SCRATCH + 1, 3 * SCRATCH]) {
      const value = repetitive(length);
      const deflated = browserCompression.deflate(value) as Uint8Array;
      const back = await unframeValue(sized(length, deflated), browserCompression, "t");
      expect(Buffer.from(back.buffer, back.byteOffset, back.length).equals(value), `length ${length}`).toBe(true);
      for (const stated of [length - 1, length + 1]) {
        await expect(unframeValue(sized(stated, deflated), browserCompression, "t"), `stated ${stated} of ${length}`).rejects.toMatchObject({ code: "INTEGRITY" });
      }
    }
  });

  it("hands out copies: a later inflate does not change an earlier result", () => {
    const a = repetitive(5000);
    const b = new Uint8Array(5000).fill(1);
    const first = browserCompression.inflate(browserCompression.deflate(a) as Uint8Array) as Uint8Array;
    browserCompression.inflate(browserCompression.deflate(b) as Uint8Array);
    expect(first).toEqual(a);
  });

  it("speaks the same deflate-raw as Node's zlib, both ways", async () => {
    const value = repetitive(20_000);
    expect(new Uint8Array(inflateRawSync(browserCompression.deflate(value) as Uint8Array))).toEqual(value);
    expect(browserCompression.inflate(new Uint8Array(deflateRawSync(value)))).toEqual(value);
    const frame = frameValue(value, nodeCompression, COMPRESS_MIN_BYTES_BACKGROUND);
    expect(frame[0]).toBe(2);
    expect(await unframeValue(frame, browserCompression, "t")).toEqual(value);
  });

  it("compresses tree-node-like values and refuses damaged ones with INTEGRITY", async () => {
    const value = new TextEncoder().encode(JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ title: `todo ${i}`, done: i % 2 === 0 }))));
    const frame = frameValue(value, browserCompression, COMPRESS_MIN_BYTES_BACKGROUND);
    expect(frame[0]).toBe(2);
    expect(frame.length).toBeLessThan(value.length / 2);
    const damaged = frame.slice(0, Math.floor(frame.length / 2));
    await expect(unframeValue(damaged, browserCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
  });
});
