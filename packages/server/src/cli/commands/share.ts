/**
 * `hearth share <ledger> --remote <url>`: prints a fresh one-time share
 * code for a sync point, what another device needs to `hearth join` it
 * without first sending its public key over (the alternative is `hearth
 * device` there, then `hearth invite` here). The code goes on stdout alone
 * (`CODE=$(hearth share …)` works); it works once, for the first device
 * that attaches with it.
 *
 * @module
 */
import { EXIT, parse, type Command } from "../io.js";
import { asUsage, checkLedgerName, LEDGER_FLAGS, LEDGER_HELP, openLedger, redactUrl, REMOTE_HELP, syncPointFlags, withTimeout } from "./ledger-options.js";

const DEFAULT_TIMEOUT_MS = 30_000;

const HELP = `Usage: hearth share <ledger> --remote <url> [--store <url>] [--keyring <url>]

Prints a one-time share code for the sync point <url> on stdout. Attaches the local
ledger to <url> (syncing it), stores the sync point's keys wrapped with the code,
and detaches. Hand the code over out of band; the first device to join with it gets
the keys, and the code is then used up. This device must be a member of the sync
point already (or the first to attach).

  hearth share todos --remote "http://127.0.0.1:8787/todos?token=htk_…"
  # on the other device:
  hearth join "http://127.0.0.1:8787/todos?token=htk_…" --ledger todos --share-code <code>

Options:
${REMOTE_HELP}
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 code printed, 1 failed (no such ledger; KEY_REQUIRED: this device is
not a member; the sync point unreachable or the token refused), 2 usage error.
`;

/** See the module docs. */
export const share: Command = {
  name: "share",
  summary: "print a one-time share code for a sync point",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, remote: { type: "string" }, timeout: { type: "string" } }, HELP, 1);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);

    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      let code: string;
      try {
        // Resolves once the wrapped keys are stored at the sync point.
        code = await withTimeout(attachment.createShareCode(), timeoutMs, "storing the share record");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      io.stdout(`${code}\n`);
      io.stderr(`one-time share code for ${attachment.url}; it works once\n`);
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
