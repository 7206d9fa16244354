// describeSync (src/sync-words.ts): one true sentence per status.
import { describe, expect, it } from "vitest";
import type { SyncStatus } from "@hearth/core";
import { describeSync } from "../src/sync-words.js";

const status = (over: Partial<SyncStatus>): SyncStatus => ({ state: "idle", pending: 0, behind: 0, rejected: 0, files: { toPush: 0, toFetch: 0 }, role: "writer", ...over });

describe("describeSync", () => {
  it.each([
    ["no sync point", [], "saved on this device", "ok"],
    ["idle and caught up", [status({})], "synced", "ok"],
    ["offline with writes waiting (not also 'in sync')", [status({ state: "offline", pending: 3, lastSyncAt: 1, error: { code: "STORAGE_FAILED", message: "x" } })], "offline, 3 changes waiting", "warn"],
    ["offline, nothing waiting", [status({ state: "offline" })], "offline; everything is saved on this device", "warn"],
    ["one change to send", [status({ state: "syncing", pending: 1 })], "syncing, 1 change to send", "busy"],
    ["removed", [status({ state: "error", role: "removed", error: { code: "REMOVED", message: "x" } })], "this device was removed; new changes no longer reach it", "error"],
    ["a reader with writes", [status({ state: "error", pending: 2, role: "reader", error: { code: "FORBIDDEN", message: "x" } })], "this device can only read here; 2 changes stay on this device", "warn"],
    ["waiting for a key", [status({ state: "connecting", error: { code: "KEY_REQUIRED", message: "x" } })], "waiting to be let in by a member", "warn"],
    ["files moving", [status({ files: { toPush: 3 * 1024 * 1024, toFetch: 0 } })], "synced; files: 3.0 MB to upload", "busy"],
    ["refused items from the point do not hide that it is in sync", [status({ rejected: 2, error: { code: "INTEGRITY", message: "x" } })], "synced", "ok"],
  ] as const)("%s", (_, statuses, text, tone) => {
    expect(describeSync(statuses as readonly SyncStatus[])).toEqual({ text, tone });
  });

  it("with several sync points, the one that needs attention speaks", () => {
    expect(describeSync([status({}), status({ state: "offline", pending: 1 })]).text).toBe("offline, 1 change waiting");
  });
});
