/**
 * Who shares the lists: each device with its role and fingerprint (to
 * compare aloud with the device itself), an invitation by one-time share
 * code, and, for admins, removing a device for good.
 *
 * @module
 */
import { useEffect, useState, type ReactNode } from "react";
import type { Attachment } from "@hearth/core";
import { useMembers } from "@hearth/react";
import qrcode from "qrcode-generator";
import { describe, group } from "./app.js";
import { inviteLink } from "./session.js";

/** The members panel. */
export function MembersPanel({ attachment, device }: { attachment: Attachment; device: string | undefined }): ReactNode {
  const { members, refresh } = useMembers(attachment);
  const [code, setCode] = useState<{ value: string; members: number } | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const role = attachment.status().role;
  // A used code is gone from the screen: once a new member shows up, it has done its job.
  useEffect(() => {
    if (code && members.length > code.members) setCode(undefined);
  }, [members.length, code]);

  const invite = async (): Promise<void> => {
    setBusy(true);
    try {
      setCode({ value: await attachment.createShareCode(), members: members.length });
      setError(undefined);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async (publicKey: string, fingerprint: string): Promise<void> => {
    if (!confirm(`Remove device ${group(fingerprint)} for good? It keeps what it has, but gets nothing new.`)) return;
    try {
      await attachment.remove(publicKey);
      setError(undefined);
      refresh();
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <aside className="members card" aria-label="members">
      <h2>Members</h2>
      <ul className="member-list">
        {[...members].sort((x, y) => Number(y.fingerprint === device) - Number(x.fingerprint === device)).map((m) => (
          <li key={m.fingerprint} data-testid="member">
            <span className="who">
              <code className="fingerprint">{group(m.fingerprint)}</code>
              <span className={`badge role-${m.role}`}>{m.role}</span>
              {m.warning && <span className="badge warn" title={m.warning}>check</span>}
            </span>
            {m.fingerprint === device ? (
              <span className="muted small nowrap">this device</span>
            ) : (
              role === "admin" && (
                <button type="button" className="link danger" onClick={() => void remove(m.publicKey, m.fingerprint)} aria-label={`remove ${group(m.fingerprint)}`}>
                  remove
                </button>
              )
            )}
          </li>
        ))}
      </ul>
      {role === "admin" && (
        <div className="invite">
          <button type="button" onClick={() => void invite()} disabled={busy}>
            Invite a device
          </button>
          {code && (
            <div className="code" data-testid="share-code">
              <img className="qr" src={qrDataUrl(inviteLink(code.value))} alt="QR code of the invitation" data-testid="invite-qr" />
              <code>{code.value}</code>
              <button type="button" className="link" onClick={() => void navigator.clipboard?.writeText(code.value)}>
                copy
              </button>
              <p className="muted small">
                Scan it with the other device, or type the code there. It works once.{" "}
                <a href={inviteLink(code.value)} data-testid="invite-link">Invitation link</a>
              </p>
            </div>
          )}
        </div>
      )}
      {error && <p className="error small" role="alert">{error}</p>}
    </aside>
  );
}

/** A QR code of `text`, as an image the page's CSP allows (a data: URL). */
function qrDataUrl(text: string): string {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  return qr.createDataURL(4, 2);
}
