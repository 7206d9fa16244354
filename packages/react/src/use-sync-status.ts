/**
 * `useSyncStatus`: the ledger's sync status, as a sentence (`./sync-words.ts`)
 * and as the attachments' own statuses, re-rendered on every change.
 *
 * @module
 */
import { useEffect, useState } from "react";
import type { Attachment, Ledger, SyncStatus } from "@hearth/core";
import { describeSync, type SyncWords } from "./sync-words.js";

/** What {@link useSyncStatus} returns. */
export interface SyncStatusState extends SyncWords {
  /** Each sync point's status (empty: on this device only). */
  readonly statuses: readonly SyncStatus[];
}

/**
 * The sync status of `target`: one attachment, or every sync point the
 * ledger is attached to (looked at again on each of their status changes,
 * file progress and every commit, so a sync point attached later shows up).
 *
 * @example
 * ```tsx
 * const { text, tone } = useSyncStatus(db);
 * <p className={tone}>{text}</p>   // "offline, 3 changes waiting"
 * ```
 */
export function useSyncStatus(target: Ledger | Attachment | undefined): SyncStatusState {
  const [statuses, setStatuses] = useState<readonly SyncStatus[]>([]);
  useEffect(() => {
    if (target === undefined) return;
    let active = true;
    const watched = new Map<Attachment, () => void>();
    const attachments = (): Attachment[] => ("attachments" in target ? target.attachments() : [target]);
    const look = (): void => {
      if (!active) return;
      const now = attachments();
      for (const [a, stop] of watched) {
        if (now.includes(a)) continue;
        stop();
        watched.delete(a);
      }
      for (const a of now) {
        if (watched.has(a)) continue;
        // File bytes moving change `files` in the status without a status event of their own.
        const stops = [a.on("status", look), a.on("progress", look)];
        watched.set(a, () => stops.forEach((stop) => stop()));
      }
      setStatuses(now.map((a) => a.status()));
    };
    let unsubscribe = (): void => undefined;
    if ("subscribe" in target) {
      try {
        unsubscribe = target.subscribe(look);
      } catch {
        // A closed ledger: nothing attached, nothing to watch.
      }
    }
    look();
    return () => {
      active = false;
      unsubscribe();
      for (const stop of watched.values()) stop();
    };
  }, [target]);
  return { ...describeSync(statuses), statuses };
}
