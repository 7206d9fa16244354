/**
 * The per-ledger quota's bookkeeping (`src/http/quota.ts`): writes running
 * at once hold their bytes, small writes get headroom, a failed write gives
 * its bytes back, and a delete makes the next write measure again, even
 * when it lands while a measurement runs; a refusal that objects put twice
 * could explain measures again first.
 */
import { describe, expect, it } from "vitest";
import { LedgerQuota, SMALL_WRITE_BYTES, SMALL_WRITE_HEADROOM_BYTES } from "../src/http/quota.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("LedgerQuota", () => {
  it("holds the bytes of writes in flight, gives a failed write's back, and counts what was stored", async () => {
    // The backend holds what was stored (a refusal may measure it again).
    let held = 0;
    const quota = new LedgerQuota(10 * MiB, async (ledger) => (ledger === "l" ? held : 0));
    const store = async (bytes: number): Promise<void> => {
      const reservation = await quota.reserve("l", bytes);
      held += bytes;
      reservation.stored(bytes);
    };
    const first = await quota.reserve("l", 6 * MiB);
    await expect(quota.reserve("l", 6 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    first.cancel();
    const again = await quota.reserve("l", 6 * MiB);
    held += 6 * MiB;
    again.stored(6 * MiB);
    again.cancel(); // no-op once stored
    await expect(quota.reserve("l", 5 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED", message: expect.stringContaining(`holds ${6 * MiB} bytes`) });
    await store(4 * MiB);
    // At the quota, small writes (a deletion, an announcement) still go, within the headroom.
    await store(SMALL_WRITE_BYTES);
    await expect(quota.reserve("l", SMALL_WRITE_BYTES + 1)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    for (let used = SMALL_WRITE_BYTES; used + SMALL_WRITE_BYTES <= SMALL_WRITE_HEADROOM_BYTES; used += SMALL_WRITE_BYTES) {
      await store(SMALL_WRITE_BYTES);
    }
    await expect(quota.reserve("l", SMALL_WRITE_BYTES)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    // Other ledgers have their own.
    (await quota.reserve("other", 10 * MiB)).stored(10 * MiB);
  });

  it("measures each ledger once, and again after a delete, even one during a measurement", async () => {
    let size = 9 * MiB;
    let measured = 0;
    let release: (() => void) | undefined;
    const quota = new LedgerQuota(10 * MiB, async () => {
      measured++;
      if (release === undefined) return size;
      const at = size;
      await new Promise<void>((resolve) => (release = resolve));
      return at;
    });
    await expect(quota.reserve("l", 2 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    await expect(quota.reserve("l", 2 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    expect(measured).toBe(1);
    // A slow measurement overtaken by a delete is not kept.
    release = () => undefined;
    size = 9 * MiB;
    quota.deleted("l");
    const reserving = quota.reserve("l", 2 * MiB);
    await Promise.resolve();
    size = 1 * MiB;
    quota.deleted("l");
    const slow = release;
    release = undefined;
    slow();
    (await reserving).stored(2 * MiB);
    expect(measured).toBe(3);
  });

  it("an object put again counts again, but before that refuses a write the ledger is measured again", async () => {
    // The backend: objects by name, so a put of a name it holds changes nothing.
    const objects = new Map<string, number>();
    let measured = 0;
    const quota = new LedgerQuota(6 * MiB, async () => {
      measured++;
      return [...objects.values()].reduce((a, b) => a + b, 0);
    });
    const put = async (name: string, bytes: number): Promise<void> => {
      const reservation = await quota.reserve("l", bytes);
      objects.set(name, bytes);
      reservation.stored(bytes);
    };
    await put("a", MiB);
    await put("b", MiB);
    // A client retries its uploads: the same blocks again, counted again.
    for (let i = 0; i < 4; i++) await put(i % 2 === 0 ? "a" : "b", MiB);
    expect(measured).toBe(1);
    // 6 MiB counted, 2 MiB held: the write goes, after a measurement.
    await put("c", 3 * MiB);
    expect(measured).toBe(2);
    // Refused after measuring again (what was counted since may have held objects twice)…
    await expect(quota.reserve("l", 2 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED", message: expect.stringContaining(`holds ${5 * MiB} bytes`) });
    expect(measured).toBe(3);
    // … and then with no measurement: nothing was counted since the last.
    await expect(quota.reserve("l", 2 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    expect(measured).toBe(3);
    // A write in flight while the ledger is measured again still holds its bytes.
    const inFlight = await quota.reserve("l", MiB);
    await expect(quota.reserve("l", MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED", message: expect.stringContaining(`holds ${6 * MiB} bytes`) });
    expect(measured).toBe(4);
    inFlight.cancel();
    await put("d", MiB);
  });
});
