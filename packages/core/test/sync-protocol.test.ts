// What sync stores at a sync point (src/sync/protocol.ts): padded to a few
// sizes, content-addressed, and refused when altered.
import { describe, expect, it } from "vitest";
import { MIN_ENVELOPE_BYTES } from "../src/crypto/envelope.js";
import { openMemoryKeyring } from "../src/keyring/memory.js";
import { MIN_PADDED_BYTES, openAnnouncement, openBundle, paddedLength, sealAnnouncement, sealBundle, type SealContext } from "../src/sync/protocol.js";

async function context(): Promise<{ ctx: SealContext; key: Awaited<ReturnType<Awaited<ReturnType<typeof openMemoryKeyring>>["createKey"]>> }> {
  const keyring = await openMemoryKeyring();
  const key = await keyring.createKey("point", { shareable: true });
  return { key, ctx: { pointUrl: "memory://p", keyFor: async (fp) => (fp === key.fingerprint ? key : "foreign") } };
}

/** Bytes that do not compress. */
const noise = (n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65_536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65_536)));
  return out;
};

describe("padding", () => {
  it("paddedLength: at least the floor, never shorter, at most 12 % longer, and few sizes", () => {
    const sizes = new Set<number>();
    for (let length = 0; length <= 200_000; length += 7) {
      const padded = paddedLength(length);
      expect(padded).toBeGreaterThanOrEqual(Math.max(length, MIN_PADDED_BYTES));
      if (length > MIN_PADDED_BYTES) expect(padded / length).toBeLessThanOrEqual(1.12);
      sizes.add(padded);
    }
    // 28,572 lengths fall into a few hundred sizes.
    expect(sizes.size).toBeLessThan(400);
    expect(paddedLength(1)).toBe(MIN_PADDED_BYTES);
    expect(paddedLength(10_000)).toBe(10_240);
  });

  it("sealed bundles and announcements come in padded sizes only, and open to what was sealed", async () => {
    const { ctx, key } = await context();
    const seen = new Set<number>();
    for (const size of [1, 10, 100, 300, 450, 1_000, 2_900, 5_000, 20_000]) {
      const content = { events: [noise(size)], statements: [noise(150)] };
      const bundle = await sealBundle(ctx, key, content);
      const plaintext = bundle.bytes.length - MIN_ENVELOPE_BYTES;
      expect(paddedLength(plaintext)).toBe(plaintext);
      seen.add(plaintext);
      expect(await openBundle(ctx, bundle.name, bundle.bytes)).toEqual(content);
      const head = await sealAnnouncement(ctx, key, [], [bundle.name], content);
      expect(paddedLength(head.bytes.length - MIN_ENVELOPE_BYTES)).toBe(head.bytes.length - MIN_ENVELOPE_BYTES);
      expect((await openAnnouncement(ctx, head.name, head.bytes)).bundles).toEqual([bundle.name]);
    }
    // Writes of 1 to 300 bytes are indistinguishable by size.
    expect(seen.has(MIN_PADDED_BYTES)).toBe(true);
  });

  it("an altered byte anywhere, padding included, is INTEGRITY", async () => {
    const { ctx, key } = await context();
    const bundle = await sealBundle(ctx, key, { events: [noise(20)], statements: [noise(10)] });
    for (const at of [0, 20, bundle.bytes.length - 100, bundle.bytes.length - 1]) {
      const bytes = bundle.bytes.slice();
      bytes[at]! ^= 1;
      await expect(openBundle(ctx, bundle.name, bytes)).rejects.toMatchObject({ code: "INTEGRITY" });
    }
  });
});
