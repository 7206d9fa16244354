/**
 * Sync status in words a user understands. An attachment's status is made
 * for developers (`state`, `pending`, `behind`, error codes); an app's
 * status line needs one short sentence that is true: never "offline" and
 * "in sync" at once, never a disk-failure code for a network outage.
 *
 * Pure, so every case is tested without React.
 *
 * @module
 */
import type { SyncStatus } from "@hearth/core";

/** How the sentence should look: all well, working, needs attention, cannot go on. */
export type SyncTone = "ok" | "busy" | "warn" | "error";

/** One sentence about sync, and its tone. */
export interface SyncWords {
  readonly text: string;
  readonly tone: SyncTone;
}

/**
 * The sentence for the statuses of a ledger's sync points (none: the
 * ledger is on this device only). With several, the one that most needs
 * attention speaks.
 *
 * @example
 * ```ts
 * describeSync([{ state: "offline", pending: 3, ... }]) // { text: "offline, 3 changes waiting", tone: "warn" }
 * ```
 */
export function describeSync(statuses: readonly SyncStatus[]): SyncWords {
  if (statuses.length === 0) return { text: "saved on this device", tone: "ok" };
  const words = statuses.map(describeOne);
  const rank: Record<SyncTone, number> = { error: 3, warn: 2, busy: 1, ok: 0 };
  return words.reduce((worst, w) => (rank[w.tone] > rank[worst.tone] ? w : worst));
}

function describeOne(s: SyncStatus): SyncWords {
  const changes = (n: number): string => `${n} change${n === 1 ? "" : "s"}`;
  if (s.role === "removed" || s.error?.code === "REMOVED") {
    return { text: "this device was removed; new changes no longer reach it", tone: "error" };
  }
  if (s.state === "error" && s.error?.code === "FORBIDDEN") {
    return { text: s.pending > 0 ? `this device can only read here; ${changes(s.pending)} stay on this device` : "this device can only read here", tone: "warn" };
  }
  if (s.error?.code === "KEY_REQUIRED" && s.state !== "idle") return { text: "waiting to be let in by a member", tone: "warn" };
  if (s.state === "error" && s.error?.code === "TOO_LARGE") return { text: "a change is too large for the sync point; it stays on this device", tone: "error" };
  if (s.state === "offline") {
    return { text: s.pending > 0 ? `offline, ${changes(s.pending)} waiting` : "offline; everything is saved on this device", tone: "warn" };
  }
  if (s.state === "connecting") return { text: "connecting…", tone: "busy" };
  const files = s.files.toPush + s.files.toFetch;
  if (s.state === "syncing" || s.pending > 0 || s.behind > 0) {
    return { text: s.pending > 0 ? `syncing, ${changes(s.pending)} to send` : "syncing…", tone: "busy" };
  }
  if (files > 0) {
    const parts = [s.files.toPush > 0 && `${megabytes(s.files.toPush)} to upload`, s.files.toFetch > 0 && `${megabytes(s.files.toFetch)} to download`].filter(Boolean);
    return { text: `synced; files: ${parts.join(", ")}`, tone: "busy" };
  }
  if (s.state === "error") return { text: `sync stopped: ${s.error?.message ?? "unknown error"}`, tone: "error" };
  return { text: "synced", tone: "ok" };
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}
