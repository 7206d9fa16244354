/**
 * The app's screens as one explicit state machine: no token yet → opening
 * the ledger → attaching → (not a member: joining with a share code) →
 * the lists. A refused token or code says so and lets the user try another;
 * an error is shown with what to do and cleared by the next success.
 *
 * @module
 */
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { isHearthError, type Attachment, type Ledger } from "@hearth/core";
import { useLedger, useSyncStatus } from "@hearth/react";
import { attachTo, dropCode, pointUrl, readFragment, writeToken, type AttachOutcome } from "./session.js";
import { Lists } from "./lists.js";
import { MembersPanel } from "./members.js";

type Screen =
  | { readonly kind: "need-token"; readonly refused?: string }
  | { readonly kind: "attaching" }
  | { readonly kind: "join"; readonly refused: boolean }
  | { readonly kind: "ready"; readonly attachment: Attachment };

/** The whole page. */
export function App(): ReactNode {
  const fragment = readFragment();
  const [token, setToken] = useState(fragment.token);
  const { db, error: openError } = useLedger(fragment.ledger);
  const [screen, setScreen] = useState<Screen>(token ? { kind: "attaching" } : { kind: "need-token" });
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const device = useDevice(db);

  const settle = useCallback((outcome: AttachOutcome): void => {
    setProblem(undefined);
    if (outcome.kind !== "token-refused") dropCode();
    if (outcome.kind === "attached") setScreen({ kind: "ready", attachment: outcome.attachment });
    else if (outcome.kind === "not-a-member") setScreen({ kind: "join", refused: false });
    else if (outcome.kind === "code-refused") setScreen({ kind: "join", refused: true });
    else setScreen({ kind: "need-token", refused: outcome.message });
  }, []);

  // Attach once the ledger is open and a token is known (again after a new token).
  useEffect(() => {
    if (!db || !token) return;
    let active = true;
    setScreen({ kind: "attaching" });
    // An invitation link carries its code: a device that is not a member yet joins with it at once.
    attachTo(db, pointUrl(fragment.ledger, token), fragment.code).then(
      (outcome) => active && settle(outcome),
      (err: unknown) => active && setProblem(describe(err)),
    );
    return () => {
      active = false;
    };
  }, [db, token, fragment.ledger, settle]);

  const adoptToken = (value: string): void => {
    writeToken(value);
    setToken(value);
  };
  const join = async (code: string): Promise<void> => {
    if (!db || !token) return;
    setScreen({ kind: "attaching" });
    settle(await attachTo(db, pointUrl(fragment.ledger, token), code));
  };

  const attachment = screen.kind === "ready" ? screen.attachment : undefined;
  const sync = useSyncStatus(attachment ?? db);
  const removed = sync.statuses.some((s) => s.role === "removed" || s.error?.code === "REMOVED");
  return (
    <div className="app">
      <Header open={db !== undefined} text={sync.text} tone={sync.tone} />
      {openError && <p className="banner error" role="alert">{describe(openError)}</p>}
      {problem && <p className="banner error" role="alert">{problem}</p>}
      {screen.kind === "need-token" && <TokenForm refused={screen.refused} onToken={adoptToken} />}
      {screen.kind === "attaching" && <p className="center muted" data-testid="attaching">Connecting to the sync server…</p>}
      {screen.kind === "join" && <JoinForm refused={screen.refused} onCode={(code) => join(code).catch((err: unknown) => setProblem(describe(err)))} />}
      {screen.kind === "ready" && db && (
        <div className="workspace">
          <Lists db={db} attachment={screen.attachment} removed={removed} />
          <MembersPanel attachment={screen.attachment} device={device} />
        </div>
      )}
      <Footer device={device} ledger={fragment.ledger} />
    </div>
  );
}

function Header({ open, text, tone }: { open: boolean; text: string; tone: string }): ReactNode {
  return (
    <header className="header">
      <h1>
        <span className="logo" aria-hidden>◆</span> Hearth Lists
      </h1>
      <p className={`status ${tone}`} data-testid="status" data-tone={tone}>
        {open ? text : "opening…"}
      </p>
    </header>
  );
}

function TokenForm({ refused, onToken }: { refused: string | undefined; onToken: (token: string) => void }): ReactNode {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (value.trim()) onToken(value.trim());
  };
  return (
    <section className="card narrow" data-testid="need-token">
      <h2>{refused ? "The sync server refused that token" : "This page needs a token"}</h2>
      <p className="muted">
        {refused
          ? "It is unknown, expired or revoked. Enter another one."
          : "npm start prints a link with one (after #token=). Paste the token here, or open that link."}
      </p>
      <form onSubmit={submit} className="row">
        <input aria-label="token" value={value} onChange={(e) => setValue(e.target.value)} placeholder="htk_…" autoComplete="off" spellCheck={false} />
        <button type="submit">Use token</button>
      </form>
    </section>
  );
}

function JoinForm({ refused, onCode }: { refused: boolean; onCode: (code: string) => void }): ReactNode {
  const [code, setCode] = useState("");
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (code.trim()) onCode(code.trim());
  };
  return (
    <section className="card narrow" data-testid="join">
      <h2>Join these lists</h2>
      <p className="muted">
        This browser is not a member yet: it does not hold the lists' key. On a device that is, open <b>Members</b>, press{" "}
        <b>Invite a device</b> and type the code here. A code works once.
      </p>
      <form onSubmit={submit} className="row">
        <input aria-label="share code" value={code} onChange={(e) => setCode(e.target.value)} placeholder="hs2-…" autoComplete="off" spellCheck={false} />
        <button type="submit">Join</button>
      </form>
      {refused && (
        <p className="error" role="alert" data-testid="join-error">
          That code did not work: it was used already, expired, or mistyped. Ask for a new one.
        </p>
      )}
    </section>
  );
}

/** This device's fingerprint, once the ledger is open. */
function useDevice(db: Ledger | undefined): string | undefined {
  const [device, setDevice] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (!db) return;
    let active = true;
    db.device().then((d) => active && setDevice(d.fingerprint), () => undefined);
    return () => {
      active = false;
    };
  }, [db]);
  return device;
}

function Footer({ device, ledger }: { device: string | undefined; ledger: string }): ReactNode {
  return (
    <footer className="footer muted">
      This device <code data-testid="device">{device ? group(device) : "…"}</code> · lists <code>{ledger}</code> on{" "}
      <code>{location.host}</code> · stored in this browser, end-to-end encrypted
    </footer>
  );
}

/** A fingerprint in groups of four, to read aloud and compare. */
export function group(fingerprint: string): string {
  return (fingerprint.slice(0, 16).match(/.{4}/g) ?? []).join(" ");
}

/** An error in words (the code's remedy is in its message). */
export function describe(err: unknown): string {
  if (isHearthError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}
