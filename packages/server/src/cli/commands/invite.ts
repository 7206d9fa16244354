/**
 * `hearth invite <ledger> <public-key> --remote <url>`: lets another device
 * into a sync point. Opens the local ledger, attaches to the sync point
 * (this device must already be a member, or be the first one there, which
 * creates the point's key), wraps the point's keys for the other device's
 * public key (from `hearth device` on that device), and detaches once the
 * key record is stored at the sync point. The other device then attaches
 * with no further ceremony (`hearth join <url> --ledger <name>`).
 *
 * @module
 */
import { EXIT, parse, UsageError, type Command } from "../io.js";
import { asUsage, checkLedgerName, deviceFingerprint, LEDGER_FLAGS, LEDGER_HELP, openLedger, PUBLIC_KEY, redactUrl, REMOTE_HELP, syncPointFlags, withTimeout } from "./ledger-options.js";

const DEFAULT_TIMEOUT_MS = 30_000;

const HELP = `Usage: hearth invite <ledger> <public-key> --remote <url> [--store <url>] [--keyring <url>]

Invites another device to the sync point <url>: wraps the sync point's keys for its
public key (printed by \`hearth device\` on that device). Attaches the local ledger
to <url> (syncing it), writes the key record, and detaches once it is stored.
This device must be a member of the sync point already (or the first to attach).

  hearth invite todos BKx…Q --remote "http://127.0.0.1:8787/todos?token=htk_…"

The other device then runs: hearth join <url> --ledger <name>

Options:
${REMOTE_HELP}
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 invited, 1 failed (no such ledger; KEY_REQUIRED: this device is not a
member; the sync point unreachable or the token refused), 2 usage error (including a
malformed public key or URL).
`;

/** See the module docs. */
export const invite: Command = {
  name: "invite",
  summary: "let another device's key into a sync point",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, remote: { type: "string" }, timeout: { type: "string" } }, HELP, 2);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const publicKey = positionals[1];
    if (publicKey === undefined) throw new UsageError("the other device's public key is required (run `hearth device` there)", HELP);
    if (!PUBLIC_KEY.test(publicKey)) throw new UsageError(`${JSON.stringify(publicKey)} is not a device public key (87 characters starting with B, as \`hearth device\` prints)`, HELP);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);

    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      try {
        // Resolves once the key record is stored at the sync point.
        await withTimeout(attachment.invite(publicKey), timeoutMs, "storing the key record");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      io.stdout(`invited device ${deviceFingerprint(publicKey)} to ${attachment.url}\n`);
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
