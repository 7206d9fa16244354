/**
 * `hearth members <ledger> --remote <url> [--json]`: lists a sync point's
 * members as its signed membership log says (fingerprint, role, who added
 * it), after syncing the local ledger with it. Any member may list.
 *
 * @module
 */
import { EXIT, parse, type Command } from "../io.js";
import { asUsage, checkLedgerName, LEDGER_FLAGS, LEDGER_HELP, openLedger, redactUrl, REMOTE_HELP, syncPointFlags, withTimeout } from "./ledger-options.js";

const HELP = `Usage: hearth members <ledger> --remote <url> [--json] [--store <url>] [--keyring <url>]

Lists the members of the sync point <url>, as its signed membership log says: one
line per device with its fingerprint, its role and the fingerprint of the admin who
added it (itself for the founder and for devices that joined by code or passphrase),
and a warning under a device that needs a look (one share code redeemed by two
devices that did not see each other: remove the one you did not give it to).
This device must be a member.

  hearth members todos --remote "http://127.0.0.1:8787/todos?token=htk_…"

Options:
${REMOTE_HELP}
  --json              print one JSON array of { publicKey, fingerprint, role, addedBy }
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 listed, 1 failed (no such ledger; KEY_REQUIRED: this device is not a
member; REMOVED: it was removed; the sync point unreachable or the token refused),
2 usage error.
`;

const DEFAULT_TIMEOUT_MS = 30_000;

/** See the module docs. */
export const members: Command = {
  name: "members",
  summary: "list the devices of a sync point and their roles",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, remote: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean" } }, HELP, 1);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);
    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      let list;
      try {
        list = await withTimeout(attachment.members(), timeoutMs, "reading the membership log");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      const me = (await db.device()).fingerprint;
      if (values.json) {
        io.stdout(`${JSON.stringify(list)}\n`);
      } else {
        for (const m of list) {
          io.stdout(`${m.fingerprint}  ${m.role.padEnd(6)}  added by ${m.addedBy === m.fingerprint ? "itself" : m.addedBy}${m.fingerprint === me ? "  (this device)" : ""}\n`);
          if (m.warning !== undefined) io.stdout(`  warning: ${m.warning}\n`);
        }
      }
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
