import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { frameValue, unframeValue, streamCompression, COMPRESS_MIN_BYTES, COMPRESS_MIN_BYTES_BACKGROUND } from "../src/crypto/compression.js";
import { nodeCompression } from "../src/crypto/compression-node.js";
import { openEncryptedStore } from "../src/store/encrypted.js";
import { openMemoryStore } from "../src/store/memory.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import { nodeCipher } from "../src/crypto/cipher-node.js";
import { storeConformance } from "../src/testing/store-suite.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("value framing and compression", () => {
  it("round-trips any bytes, with and without compression", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, compress) => {
        const frame = frameValue(bytes, compress ? nodeCompression : undefined);
        expect(await unframeValue(frame, nodeCompression, "t")).toEqual(bytes);
      }),
    );
  });

  it("compresses repetitive values and leaves small or random ones as they are", () => {
    const repetitive = text(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ title: "todo", done: false, i }))));
    const framed = frameValue(repetitive, nodeCompression);
    expect(framed[0]).toBe(2);
    expect(framed.length).toBeLessThan(repetitive.length / 2);
    expect(frameValue(text("x".repeat(COMPRESS_MIN_BYTES - 1)), nodeCompression)[0]).toBe(0);
    const random = crypto.getRandomValues(new Uint8Array(2048));
    expect(frameValue(random, nodeCompression)[0]).toBe(0);
  });

  it("values compressed by Node's zlib inflate through the Compression Streams API (the browser path)", async () => {
    const value = text("hearth ".repeat(500));
    const frame = frameValue(value, nodeCompression);
    expect(frame[0]).toBe(2);
    expect(await unframeValue(frame, undefined, "t")).toEqual(value);
    // Flag, then the length (3,500: two varint bytes), then the deflate stream.
    expect(await streamCompression.inflate(frame.subarray(3))).toEqual(value);
  });

  it("reads frames without a length (flag 1, as written before the length was added)", async () => {
    const value = text("older ".repeat(400));
    const legacy = new Uint8Array([1, ...nodeCompression.deflate(value)]);
    expect(new Uint8Array(await unframeValue(legacy, nodeCompression, "t"))).toEqual(value);
    expect(new Uint8Array(await unframeValue(legacy, undefined, "t"))).toEqual(value);
  });

  it("a length that disagrees with the inflated value, or is cut short, is INTEGRITY", async () => {
    const value = text("sized ".repeat(400));
    const frame = frameValue(value, nodeCompression);
    expect(frame[0]).toBe(2);
    const deflated = nodeCompression.deflate(value);
    for (const length of [value.length - 1, value.length + 1, 5]) {
      const head = length < 128 ? [length] : [(length % 128) | 0x80, Math.floor(length / 128)];
      await expect(unframeValue(new Uint8Array([2, ...head, ...deflated]), nodeCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
    }
    await expect(unframeValue(new Uint8Array([2, 0x80, 0x80]), nodeCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(unframeValue(new Uint8Array([2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), nodeCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  it("an unknown flag or a corrupt deflate stream is INTEGRITY", async () => {
    await expect(unframeValue(new Uint8Array([7, 1, 2]), nodeCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(unframeValue(new Uint8Array([1, 0xff, 0xff, 0xff]), nodeCompression, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(unframeValue(new Uint8Array([1, 0xff, 0xff, 0xff]), undefined, "t")).rejects.toMatchObject({ code: "INTEGRITY" });
  });
});

describe("background writes", () => {
  it("compress values from the lower background threshold; other writes only from the usual one", async () => {
    const url = `memory://background-${Math.random()}`;
    const inner = await openMemoryStore(url);
    const store = await openEncryptedStore(inner, await openMemoryKeyring(`${url}-keys`), { cipher: nodeCipher, compression: nodeCompression });
    const value = text("node ".repeat(Math.ceil(COMPRESS_MIN_BYTES_BACKGROUND / 5)));
    expect(value.length).toBeLessThan(COMPRESS_MIN_BYTES);
    await store.write({ put: [["plain", value]] });
    await store.write({ put: [["small", value]] }, { background: true });
    const plain = (await inner.get("plain"))!;
    const small = (await inner.get("small"))!;
    expect(small.length).toBeLessThan(plain.length / 2);
    expect(await store.get("plain")).toEqual(value);
    expect(new Uint8Array((await store.get("small"))!)).toEqual(value);
    expect(frameValue(value.subarray(0, COMPRESS_MIN_BYTES_BACKGROUND - 1), nodeCompression, COMPRESS_MIN_BYTES_BACKGROUND)[0]).toBe(0);
    await expect(store.write({ put: [["x", value]] }, { background: "yes" as unknown as boolean })).rejects.toThrow(TypeError);
    await store.close();
  });
});

describe("values exempt from compression", () => {
  it("are stored as they are when `compress` says no for their key, and read back the same", async () => {
    const url = `memory://exempt-${Math.random()}`;
    const inner = await openMemoryStore(url);
    const store = await openEncryptedStore(inner, await openMemoryKeyring(`${url}-keys`), { cipher: nodeCipher, compression: nodeCompression });
    const value = text("node ".repeat(2_000));
    await store.write({ put: [["squeezed", value], ["as-is", value]] }, { background: true, compress: (key) => key !== "as-is" });
    expect((await inner.get("squeezed"))!.length).toBeLessThan(value.length / 4);
    expect((await inner.get("as-is"))!.length).toBeGreaterThan(value.length);
    expect(new Uint8Array((await store.get("as-is"))!)).toEqual(value);
    expect(new Uint8Array((await store.get("squeezed"))!)).toEqual(value);
    await expect(store.write({ put: [["x", value]] }, { compress: true as unknown as (key: string) => boolean })).rejects.toThrow(TypeError);
    await store.close();
  });
});

describe("store conformance through encryption with compression", () => {
  let n = 0;
  for (const c of storeConformance({
    label: "encrypted+compressed(memory)",
    async open() {
      const url = `memory://compressed-${++n}-${Math.random()}`;
      const keyring = await openMemoryKeyring(`${url}-keys`);
      const options = { cipher: nodeCipher, compression: nodeCompression };
      return {
        store: await openEncryptedStore(await openMemoryStore(url), keyring, options),
        reopen: async () => openEncryptedStore(await openMemoryStore(url), keyring, options),
      };
    },
  })) it(c.name, c.run);
});
