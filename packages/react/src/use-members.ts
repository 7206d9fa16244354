/**
 * `useMembers`: who belongs to a sync point, with roles, read again when
 * the attachment's role or sync state changes (a removal, an invitation
 * accepted) and on demand.
 *
 * @module
 */
import { useCallback, useEffect, useState } from "react";
import type { Attachment, HearthError, MemberInfo } from "@hearth/core";

/** What {@link useMembers} returns. */
export interface MembersState {
  readonly members: readonly MemberInfo[];
  readonly loading: boolean;
  readonly error?: HearthError;
  /** Reads the membership log again. */
  refresh(): void;
}

/**
 * The members of `attachment`'s sync point (empty until attached).
 *
 * @example
 * ```tsx
 * const { members } = useMembers(attachment);
 * members.map((m) => <li key={m.fingerprint}>{m.fingerprint} ({m.role})</li>)
 * ```
 */
export function useMembers(attachment: Attachment | undefined): MembersState {
  const [state, setState] = useState<{ members: readonly MemberInfo[]; loading: boolean; error?: HearthError }>({ members: [], loading: attachment !== undefined });
  const [generation, setGeneration] = useState(0);
  const refresh = useCallback(() => setGeneration((g) => g + 1), []);
  useEffect(() => {
    if (attachment === undefined) return;
    let active = true;
    // Reading the log lists the sync point: do it when something may have changed, not on every status.
    let last = "";
    const read = (): void => {
      attachment.members().then(
        (members) => active && setState({ members, loading: false }),
        (error: HearthError) => active && setState((s) => ({ ...s, loading: false, error })),
      );
    };
    const stop = attachment.on("status", (s) => {
      const now = `${s.state}/${s.role ?? ""}`;
      if (now !== last && (s.state === "idle" || s.state === "error")) read();
      last = now;
    });
    read();
    return () => {
      active = false;
      stop();
    };
  }, [attachment, generation]);
  return { ...state, refresh };
}
