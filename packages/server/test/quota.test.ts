/**
 * The per-ledger quota's bookkeeping (`src/http/quota.ts`): writes running
 * at once hold their bytes, small writes get headroom, a failed write gives
 * its bytes back, and a delete makes the next write measure again, even
 * when it lands while a measurement runs.
 */
import { describe, expect, it } from "vitest";
import { LedgerQuota, SMALL_WRITE_BYTES, SMALL_WRITE_HEADROOM_BYTES } from "../src/http/quota.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("LedgerQuota", () => {
  it("holds the bytes of writes in flight, gives a failed write's back, and counts what was stored", async () => {
    const quota = new LedgerQuota(10 * MiB, async () => 0);
    const first = await quota.reserve("l", 6 * MiB);
    await expect(quota.reserve("l", 6 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    first.cancel();
    const again = await quota.reserve("l", 6 * MiB);
    again.stored(6 * MiB);
    again.cancel(); // no-op once stored
    await expect(quota.reserve("l", 5 * MiB)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED", message: expect.stringContaining(`holds ${6 * MiB} bytes`) });
    (await quota.reserve("l", 4 * MiB)).stored(4 * MiB);
    // At the quota, small writes (a deletion, an announcement) still go, within the headroom.
    (await quota.reserve("l", SMALL_WRITE_BYTES)).stored(SMALL_WRITE_BYTES);
    await expect(quota.reserve("l", SMALL_WRITE_BYTES + 1)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    for (let used = SMALL_WRITE_BYTES; used + SMALL_WRITE_BYTES <= SMALL_WRITE_HEADROOM_BYTES; used += SMALL_WRITE_BYTES) {
      (await quota.reserve("l", SMALL_WRITE_BYTES)).stored(SMALL_WRITE_BYTES);
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
});
