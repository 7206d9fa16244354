import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { identity } from "multiformats/hashes/identity";
import { describe, expect, it } from "vitest";
import { decodeDagCbor, decodeDagCborItem, EncodedCbor, encodeDagCbor } from "../src/codec/cbor.js";
import { cidText } from "../src/codec/cid-text.js";

/** Hex, so a mismatch shows where the bytes differ (and a Buffer equals a Uint8Array). */
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");

const cid = CID.createV1(dagCbor.code, await sha256.digest(new TextEncoder().encode("hearth")));

/** Any value of the IPLD data model the ledger can hand to the encoder, CIDs and bytes included. */
const ipldValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.maxSafeNat().map((n) => n * 2 ** 20), // unsafe integers: floats in dag-cbor
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "grapheme" }),
    fc.string({ unit: "binary" }),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.constant(cid),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.string({ unit: "grapheme" })), tie("value"), { maxKeys: 6 }),
  ),
})).value;

describe("encodeDagCbor", () => {
  it("gives exactly the bytes of dagCbor.encode for any data-model value", () => {
    fc.assert(
      fc.property(ipldValue, (value) => {
        expect(hex(encodeDagCbor(value))).toBe(hex(dagCbor.encode(value)));
      }),
      { numRuns: 2000 },
    );
  });

  it("matches at the integer and float boundaries", () => {
    const edges = [0, -0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER, 2 ** 53, -(2 ** 53), 0.5, -1.5, 1e300, 5e-324];
    for (const n of edges) expect(hex(encodeDagCbor({ n, a: [n] }))).toBe(hex(dagCbor.encode({ n, a: [n] })));
  });

  it("orders the keys of objects that share keys as dagCbor.encode does, whatever was encoded before (the key-order cache)", () => {
    // A small pool, so objects often begin with the same key and differ in the rest, its order or its length.
    const pool = ["a", "b", "aa", "é", "id", "title", "\u{1F600}", "n", "ab", "ba"];
    const shaped = fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1, maxLength: pool.length }).map((keys) => Object.fromEntries(keys.map((k, i) => [k, i])));
    fc.assert(
      fc.property(fc.array(shaped, { minLength: 1, maxLength: 30 }), (objects) => {
        for (const object of objects) expect(hex(encodeDagCbor(object))).toBe(hex(dagCbor.encode(object)));
        // The same objects again, each grown by a key after it was encoded once.
        for (const object of objects) {
          (object as Record<string, number>).zz = 1;
          expect(hex(encodeDagCbor(object))).toBe(hex(dagCbor.encode(object)));
        }
      }),
      { numRuns: 300 },
    );
    // More first keys than the cache remembers: it starts over and stays right.
    for (let i = 0; i < 600; i++) {
      const object = { [`k${i % 300}`]: i, b: 1, [i % 2 === 0 ? "c" : "aaa"]: 2 };
      expect(hex(encodeDagCbor(object))).toBe(hex(dagCbor.encode(object)));
    }
  });

  it("lists own keys only, in every shape the key-order cache meets: none, one, integer-like, null-prototype, an enumerable key on Object.prototype", () => {
    const pool = ["a", "b", "1", "0", "10", "__proto__"];
    const make = (keys: readonly string[], bare: boolean): Record<string, number> => {
      const object: Record<string, number> = bare ? Object.create(null) : {};
      keys.forEach((k, i) => Object.defineProperty(object, k, { value: i, enumerable: true, writable: true, configurable: true }));
      return object;
    };
    const shaped = fc.tuple(fc.uniqueArray(fc.constantFrom(...pool), { maxLength: pool.length }), fc.boolean()).map(([keys, bare]) => make(keys, bare));
    fc.assert(
      fc.property(fc.array(shaped, { minLength: 1, maxLength: 20 }), (objects) => {
        for (const object of objects) expect(hex(encodeDagCbor(object))).toBe(hex(dagCbor.encode(object)));
      }),
      { numRuns: 300 },
    );
    encodeDagCbor({ a: 1, b: 2 }); // the key set is cached; an inherited key must not match it, nor be written
    Object.defineProperty(Object.prototype, "zz", { value: 1, enumerable: true, writable: true, configurable: true });
    try {
      expect(hex(encodeDagCbor({ a: 1, b: 2 }))).toBe(hex(encodeDagCbor(Object.assign(Object.create(null), { a: 1, b: 2 }))));
      expect(decodeDagCbor(encodeDagCbor({ a: 1, b: 2 }))).toEqual({ a: 1, b: 2 });
      encodeDagCbor({ a: 1, zz: 5 }); // cached with zz its own; for {a} the inherited zz comes where that one did
      expect(hex(encodeDagCbor({ a: 1 }))).toBe(hex(encodeDagCbor(Object.assign(Object.create(null), { a: 1 }))));
    } finally {
      delete (Object.prototype as Record<string, unknown>).zz;
    }
  });

  it("sorts map keys by UTF-8 length, then bytes, including astral and non-ASCII keys", () => {
    const value = { b: 1, aa: 2, a: 3, "\u{1F600}": 4, "\uFFFF": 5, é: 6, z: { y: 1, x: 2 } };
    expect(hex(encodeDagCbor(value))).toBe(hex(dagCbor.encode(value)));
  });

  it("writes an EncodedCbor's bytes where the value it encodes would go, also on the generic path", () => {
    fc.assert(
      fc.property(ipldValue, ipldValue, (outer, inner) => {
        const placed = { list: [outer, new EncodedCbor(dagCbor.encode(inner))], one: new EncodedCbor(dagCbor.encode(inner)) };
        expect(hex(encodeDagCbor(placed))).toBe(hex(dagCbor.encode({ list: [outer, inner], one: inner })));
        // A BigInt sends the whole value to the generic encoder, which gets the decoded values.
        const generic = { big: 2n ** 60n, one: new EncodedCbor(dagCbor.encode(inner)) };
        expect(hex(encodeDagCbor(generic))).toBe(hex(dagCbor.encode({ big: 2n ** 60n, one: inner })));
      }),
      { numRuns: 500 },
    );
  });

  it("handles large values and Buffers", () => {
    const big = { s: "x".repeat(200_000), b: Buffer.from("buffer bytes"), list: Array.from({ length: 5000 }, (_, i) => ({ i, t: `t${i}` })) };
    expect(hex(encodeDagCbor(big))).toBe(hex(dagCbor.encode(big)));
    expect(hex(encodeDagCbor({ small: 1 }))).toBe(hex(dagCbor.encode({ small: 1 })));
  });

  it("leaves everything outside the plain shapes to dagCbor.encode, errors included", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(hex(encodeDagCbor({ p: new Point(1, 2) }))).toBe(hex(dagCbor.encode({ p: new Point(1, 2) })));
    const nullProto = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(hex(encodeDagCbor(nullProto))).toBe(hex(dagCbor.encode(nullProto)));
    for (const bad of [{ u: undefined }, [undefined], { n: NaN }, { i: Infinity }, () => 1]) {
      expect(() => dagCbor.encode(bad)).toThrow();
      expect(() => encodeDagCbor(bad)).toThrow();
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeDagCbor(cyclic)).toThrow();
    let deep: unknown = 1;
    for (let i = 0; i < 400; i++) deep = [deep];
    expect(hex(encodeDagCbor(deep))).toBe(hex(dagCbor.encode(deep)));
  });
});

describe("cidText", () => {
  it("equals cid.toString() for v1 and v0 CIDs of any digest", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(dagCbor.code, 0x55, 0x70), async (bytes, code) => {
        const digest = await sha256.digest(bytes);
        const v1 = CID.createV1(code, digest);
        expect(cidText(v1)).toBe(v1.toString());
        expect(cidText(v1)).toBe(v1.toString()); // memoized
        const v0 = CID.createV0(digest);
        expect(cidText(v0)).toBe(v0.toString());
        const inline = CID.createV1(code, identity.digest(bytes)); // every length, not just sha-256's
        expect(cidText(inline)).toBe(inline.toString());
      }),
      { numRuns: 300 },
    );
  });
});

/** What a decode gives: the value, or that it threw. */
function outcome(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): { value: unknown } | { threw: true } {
  try {
    return { value: decode(bytes) };
  } catch {
    return { threw: true };
  }
}

describe("decodeDagCbor", () => {
  it("returns what dagCbor.decode returns for any encoded data-model value", () => {
    fc.assert(
      fc.property(ipldValue, (value) => {
        const bytes = dagCbor.encode(value);
        expect(decodeDagCbor(bytes)).toEqual(dagCbor.decode(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees with dagCbor.decode on damaged and arbitrary bytes: same value, or both throw", () => {
    const encoded = fc.tuple(ipldValue, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(20)).map(([value, at, byte, cut]) => {
      const bytes = new Uint8Array(dagCbor.encode(value));
      if (bytes.length > 0) bytes[at % bytes.length] = byte;
      return bytes.subarray(0, Math.max(0, bytes.length - (cut > 15 ? cut - 15 : 0)));
    });
    fc.assert(
      fc.property(fc.oneof(encoded, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        expect(outcome(decodeDagCbor, bytes)).toEqual(outcome(dagCbor.decode, bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it("reads text of every length up to 80 bytes: ASCII, non-ASCII at any position, invalid UTF-8", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "Z", "0", "-", "\u0001", "\u007f", "é", "€", "😀"), maxLength: 80 }), (text) => {
        const bytes = dagCbor.encode({ text, list: [text, text.length] });
        expect(decodeDagCbor(bytes)).toEqual(dagCbor.decode(bytes));
      }),
      { numRuns: 3000 },
    );
    for (let length = 0; length <= 80; length++) {
      const bytes = new Uint8Array(dagCbor.encode("x".repeat(length)));
      for (const bad of [0x80, 0xc3, 0xff]) {
        if (length === 0) continue;
        const damaged = bytes.slice();
        damaged[damaged.length - 1 - (length >> 1)] = bad;
        expect(outcome(decodeDagCbor, damaged)).toEqual(outcome(dagCbor.decode, damaged));
      }
    }
  });

  it("hands non-canonical forms to the generic decoder", () => {
    const cases = [
      [0x18, 0x05], // 5 in two bytes
      [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02], // keys out of order
      [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], // duplicate key
      [0x9f, 0x01, 0xff], // indefinite array
      [0xf7], // undefined
      [0xfa, 0x3f, 0x80, 0x00, 0x00], // float32
      [0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // 2^53: a BigInt
      [0xa1, 0x69, ...new TextEncoder().encode("__proto__"), 0xa0],
      [0x01, 0x02], // trailing bytes
    ];
    for (const bytes of cases.map((c) => Uint8Array.from(c))) {
      expect(outcome(decodeDagCbor, bytes)).toEqual(outcome(dagCbor.decode, bytes));
    }
  });
});

describe("decodeDagCbor's map keys and byte strings", () => {
  it("decodes map keys as dagCbor.decode does, whatever keys were decoded before (the key cache)", () => {
    // Few distinct keys of similar lengths, so later maps meet keys (and cache slots) earlier ones filled.
    const key = fc.string({ unit: fc.constantFrom("a", "b", "_", "é", "€", "😀"), maxLength: 18 });
    const map = fc.dictionary(key, fc.oneof(fc.integer(), key), { maxKeys: 5 });
    fc.assert(
      fc.property(fc.array(map, { minLength: 1, maxLength: 12 }), (maps) => {
        for (const value of maps) {
          const bytes = dagCbor.encode(value);
          expect(decodeDagCbor(bytes)).toEqual(dagCbor.decode(bytes));
        }
      }),
      { numRuns: 1000 },
    );
    // A key whose one byte is the code of a string decoded before ("é" is U+00E9; 0xe9 alone is not
    // UTF-8), and keys out of order or repeated after the same keys decoded in order.
    for (const before of [{ "é": 1, a: 2 }, { ab: 1, ba: 2 }]) decodeDagCbor(dagCbor.encode(before));
    const cases = [
      [0xa1, 0x61, 0xe9, 0x01],
      [0xa2, 0x62, 0x62, 0x61, 0x01, 0x62, 0x61, 0x62, 0x02],
      [0xa2, 0x62, 0x61, 0x62, 0x01, 0x62, 0x61, 0x62, 0x02],
      [0xa2, 0x62, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02],
    ];
    for (const bytes of cases.map((c) => Uint8Array.from(c))) {
      expect(outcome(decodeDagCbor, bytes)).toEqual(outcome(dagCbor.decode, bytes));
    }
  });

  it("gives byte strings that are copies: writing to one changes no other, nor the input", () => {
    const bytes = dagCbor.encode([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), new Uint8Array(300).fill(7)]);
    const input = bytes.slice();
    const [a, b, big] = decodeDagCbor<Uint8Array[]>(bytes);
    a!.fill(9);
    big!.fill(9);
    expect([...b!]).toEqual([4, 5]);
    expect(hex(bytes)).toBe(hex(input));
    expect(decodeDagCbor(bytes)).toEqual([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), new Uint8Array(300).fill(7)]);
  });
});

describe("decodeDagCborItem", () => {
  it("decodes each of items laid end to end, and says where each ends", () => {
    fc.assert(
      fc.property(fc.array(ipldValue, { minLength: 1, maxLength: 6 }), (values) => {
        const parts = values.map((value) => dagCbor.encode(value));
        const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let offset = 0;
        for (const part of parts) {
          bytes.set(part, offset);
          offset += part.length;
        }
        offset = 0;
        for (const part of parts) {
          const { value, end } = decodeDagCborItem(bytes, offset);
          expect(value).toEqual(dagCbor.decode(part));
          expect(end).toBe(offset + part.length);
          offset = end;
        }
      }),
      { numRuns: 1000 },
    );
    // A canonical item the fast path leaves to the generic decoder, before another: the same value, and the right end.
    const proto = [0xa1, 0x69, ...new TextEncoder().encode("__proto__"), 0xa0];
    expect(decodeDagCborItem(Uint8Array.from([...proto, 0x01]), 0)).toEqual({ value: dagCbor.decode(Uint8Array.from(proto)), end: proto.length });
    // A non-canonical item (5 in two bytes) throws, as skipping it does: a tree leaf never holds one.
    expect(() => decodeDagCborItem(Uint8Array.from([0x18, 0x05, 0x01]), 0)).toThrow();
    // An item cut short throws.
    expect(() => decodeDagCborItem(Uint8Array.from([0x01, 0x63, 0x61]), 1)).toThrow();
  });
});

describe("block addresses with the Node platform's native SHA-256", () => {
  it("equal multiformats' sha256 addresses, and decodeBlock still refuses altered bytes", async () => {
    await import("../src/platform/node.js"); // installs the native hash
    const { decodeBlock, encodeBlock } = await import("../src/codec/block.js");
    await fc.assert(
      fc.asyncProperty(ipldValue, async (value) => {
        const block = await encodeBlock(value);
        const expected = CID.createV1(dagCbor.code, await sha256.digest(dagCbor.encode(value)));
        expect(block.cid.equals(expected)).toBe(true);
        expect((await decodeBlock(block.cid, block.bytes)).value).toEqual(dagCbor.decode(block.bytes));
        const altered = new Uint8Array(block.bytes);
        altered[altered.length - 1]! ^= 1;
        await expect(decodeBlock(block.cid, altered)).rejects.toMatchObject({ code: "INTEGRITY" });
      }),
      { numRuns: 300 },
    );
  });
});
