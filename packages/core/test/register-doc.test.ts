import * as dagCbor from "@ipld/dag-cbor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeDagCbor } from "../src/codec/cbor.js";
import { readRegisterDoc, type Register } from "../src/crdt/register.js";

/** JSON values as documents hold them. */
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "grapheme" }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("_id", "__proto__", "1", "title")), tie("value"), { maxKeys: 5 }),
  ),
})).value;

const body = fc.dictionary(fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom("1", "01", "title", "done")), json, { maxKeys: 6 });
const write = fc.record({ l: fc.nat(), e: fc.uint8Array({ minLength: 36, maxLength: 36 }), d: fc.option(body, { nil: null }) });
const register: fc.Arbitrary<Register> = fc
  .tuple(write, fc.array(write, { maxLength: 2 }))
  .map(([w, c]) => (c.length === 0 ? { w } : { w, c }) as Register);

/** What allDocs made of a register before: the generic decode, then `{ _id, ...body }`. */
function generic(bytes: Uint8Array, id: string): Record<string, unknown> | null {
  const decoded = dagCbor.decode<Register>(bytes);
  return decoded.w.d === null ? null : { _id: id, ...decoded.w.d };
}

describe("readRegisterDoc", () => {
  it("gives the winning write's document as { _id, ...body } (null when deleted) and where the register ends", () => {
    fc.assert(
      fc.property(register, fc.string(), fc.uint8Array({ maxLength: 8 }), (reg, id, trailing) => {
        const bytes = encodeDagCbor(reg);
        const laid = new Uint8Array([0x01, ...bytes, ...trailing]);
        const read = readRegisterDoc(laid, 1, id);
        // A body with a key the fast path leaves to the generic decoder (`__proto__`) is declined.
        if (read === undefined) {
          expect(JSON.stringify(reg)).toContain("__proto__");
          return;
        }
        expect(read.end).toBe(1 + bytes.length);
        const expected = generic(bytes, id);
        expect(read.value).toEqual(expected);
        if (expected !== null) expect(Object.keys(read.value!)).toEqual(Object.keys(expected));
      }),
      { numRuns: 2000 },
    );
  });

  it("declines anything else rather than read a document wrong: other shapes, damaged and cut-short registers", () => {
    const damaged = fc.tuple(register, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(12)).map(([reg, at, byte, cut]) => {
      const bytes = new Uint8Array(encodeDagCbor(reg));
      bytes[at % bytes.length] = byte;
      return { bytes: bytes.subarray(0, Math.max(1, bytes.length - (cut > 6 ? cut - 6 : 0))), original: reg as Register | undefined };
    });
    const other = fc
      .oneof(json, fc.record({ w: json }), fc.record({ w: fc.record({ d: body, e: json, l: json }) }))
      .map((v) => ({ bytes: encodeDagCbor(v), original: undefined }));
    fc.assert(
      fc.property(fc.oneof(damaged, other), ({ bytes, original }) => {
        const read = readRegisterDoc(bytes, 0, "x");
        if (read === undefined) return;
        let expected: Record<string, unknown> | null;
        try {
          // What the generic decoder reads there, as a register's document.
          const decoded = dagCbor.decode<{ w: { d: Record<string, unknown> | null } }>(bytes.subarray(0, read.end));
          expected = decoded.w.d === null ? null : { _id: "x", ...decoded.w.d };
        } catch {
          // Damage the generic decoder refuses in what the fast path skips (the losing writes, the winning
          // write's event and lamport are checked only to be canonical items of the right kind): the
          // document read is the one written.
          expect(original).toBeDefined();
          expected = original!.w.d === null ? null : { _id: "x", ...original!.w.d };
        }
        expect(read.value).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
