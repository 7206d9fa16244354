/**
 * `hearth invite <ledger> <public-key> --remote <url> [--role r]`: adds
 * another device to a sync point. Opens the local ledger, attaches to the
 * sync point (this device must be an admin there, or the first one there,
 * which founds it), writes the signed membership entry that adds the other
 * device (from `hearth device` on it) with its role and the point's keys
 * wrapped for it, and detaches once that is stored. Prints the invitation
 * on stdout: the other device joins with it (`hearth join <url> --ledger
 * <name> --invitation <i>`), which pins the sync point it names.
 *
 * @module
 */
import { EXIT, parse, UsageError, type Command } from "../io.js";
import {
  asUsage, checkLedgerName, deviceFingerprint, LEDGER_FLAGS, LEDGER_HELP, openLedger, PUBLIC_KEY, redactUrl, REMOTE_HELP, roleOf, syncPointFlags, withTimeout,
} from "./ledger-options.js";

const DEFAULT_TIMEOUT_MS = 30_000;

const HELP = `Usage: hearth invite <ledger> <public-key> --remote <url> [--role <r>] [--store <url>] [--keyring <url>]

Adds another device to the sync point <url> with a role, and wraps the sync point's
keys for it (its public key is what \`hearth device\` prints on that device).
Attaches the local ledger to <url> (syncing it), writes the signed membership entry,
and detaches once it is stored. This device must be an admin of the sync point (or
the first to attach, which makes it the admin). Prints the invitation on stdout.

  hearth invite todos BKx…Q --remote "http://127.0.0.1:8787/todos?token=htk_…"

The other device then runs: hearth join <url> --ledger <name> --invitation <invitation>

Options:
${REMOTE_HELP}
  --role <r>          admin (invites, removes, rotates), writer (default) or reader
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 invited, 1 failed (no such ledger; KEY_REQUIRED: this device is not a
member; FORBIDDEN: it is not an admin; the sync point unreachable or the token
refused), 2 usage error (including a malformed public key or URL).
`;

/** See the module docs. */
export const invite: Command = {
  name: "invite",
  summary: "let another device's key into a sync point",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, remote: { type: "string" }, role: { type: "string" }, timeout: { type: "string" } }, HELP, 2);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const publicKey = positionals[1];
    if (publicKey === undefined) throw new UsageError("the other device's public key is required (run `hearth device` there)", HELP);
    if (!PUBLIC_KEY.test(publicKey)) throw new UsageError(`${JSON.stringify(publicKey)} is not a device public key (174 characters starting with B, as \`hearth device\` prints)`, HELP);
    const role = roleOf(values, HELP);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);

    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      let invitation: string;
      try {
        // Resolves once the membership entry is stored at the sync point.
        invitation = await withTimeout(attachment.invite(publicKey, { role }), timeoutMs, "storing the membership entry");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      io.stdout(`${invitation}\n`);
      io.stderr(
        `invited device ${deviceFingerprint(publicKey)} to ${attachment.url} as ${role}; on that device run\n` +
          `  hearth join <url> --ledger <name> --invitation ${invitation}\n`,
      );
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
