/**
 * `hearth share <ledger> --remote <url>`: prints a fresh one-time share
 * code for a sync point, what another device needs to `hearth join` it
 * without first sending its public key over (the alternative is `hearth
 * device` there, then `hearth invite` here). The code goes on stdout alone
 * (`CODE=$(hearth share …)` works); it works once, for the first device
 * that attaches with it, with the role and within the time it was made for.
 *
 * @module
 */
import { EXIT, parse, parseDuration, type Command } from "../io.js";
import { asUsage, checkLedgerName, LEDGER_FLAGS, LEDGER_HELP, openLedger, redactUrl, REMOTE_HELP, roleOf, syncPointFlags, withTimeout } from "./ledger-options.js";

const DEFAULT_TIMEOUT_MS = 30_000;

const HELP = `Usage: hearth share <ledger> --remote <url> [--role <r>] [--expires <d>] [--store <url>] [--keyring <url>]

Prints a one-time share code for the sync point <url> on stdout. Attaches the local
ledger to <url> (syncing it), stores a signed grant that the code redeems (the sync
point's keys wrapped with it, and the role it gives), and detaches. Hand the code
over out of band; the first device to join with it becomes a member, and the code is
then used up. This device must be an admin of the sync point (or the first to attach).

  hearth share todos --remote "http://127.0.0.1:8787/todos?token=htk_…"
  # on the other device:
  hearth join "http://127.0.0.1:8787/todos?token=htk_…" --ledger todos --share-code <code>

Options:
${REMOTE_HELP}
  --role <r>          the role it gives: admin, writer (default) or reader
  --expires <d>       how long it can be redeemed, e.g. 1h or 7d (default 7d)
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 code printed, 1 failed (no such ledger; KEY_REQUIRED: this device is
not a member; FORBIDDEN: it is not an admin; the sync point unreachable or the
token refused), 2 usage error.
`;

/** See the module docs. */
export const share: Command = {
  name: "share",
  summary: "print a one-time share code for a sync point",
  async run(args, io) {
    const { values, positionals } = parse(
      args, { ...LEDGER_FLAGS, remote: { type: "string" }, role: { type: "string" }, expires: { type: "string" }, timeout: { type: "string" } }, HELP, 1,
    );
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);
    const role = roleOf(values, HELP);
    const expiresInMs = values.expires === undefined ? undefined : parseDuration(values.expires, "--expires", HELP);

    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      let code: string;
      try {
        // Resolves once the wrapped keys are stored at the sync point.
        code = await withTimeout(attachment.createShareCode({ role, ...(expiresInMs !== undefined && { expiresInMs }) }), timeoutMs, "storing the share grant");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      io.stdout(`${code}\n`);
      io.stderr(`one-time share code for ${attachment.url} (role ${role}); it works once\n`);
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
