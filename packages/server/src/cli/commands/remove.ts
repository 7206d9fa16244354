/**
 * `hearth remove <ledger> <device> --remote <url>`: removes a device from a
 * sync point for good (a lost or stolen one). Opens the local ledger,
 * attaches (this device must be an admin there), writes the signed removal
 * (which also gives the remaining members a new key the removed device
 * lacks), and detaches once it is stored. `<device>` is the public key
 * `hearth device` printed there, or the fingerprint `hearth members` shows.
 *
 * @module
 */
import { EXIT, parse, UsageError, type Command } from "../io.js";
import {
  asUsage, checkLedgerName, deviceFingerprint, LEDGER_FLAGS, LEDGER_HELP, openLedger, PUBLIC_KEY, redactUrl, REMOTE_HELP, syncPointFlags, withTimeout,
} from "./ledger-options.js";

const HELP = `Usage: hearth remove <ledger> <device> --remote <url> [--store <url>] [--keyring <url>]

Removes a device from the sync point <url> for good: the remaining members get a new
key it lacks, its later writes are refused by every member, and share codes and
passphrase access granted before are cancelled. It keeps what it already had.
<device> is its public key (what \`hearth device\` printed on it) or its fingerprint
(as \`hearth members\` lists it). This device must be an admin of the sync point.

  hearth remove todos 3f2a…9c --remote "http://127.0.0.1:8787/todos?token=htk_…"

Options:
${REMOTE_HELP}
  --timeout <d>       how long to wait for the sync point, e.g. 30s (default 30s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 removed, 1 failed (no such ledger; KEY_REQUIRED: this device is not a
member; FORBIDDEN: it is not an admin; INVALID_ARGUMENT: it is this device; the sync
point unreachable or the token refused), 2 usage error.
`;

const DEFAULT_TIMEOUT_MS = 30_000;
const FINGERPRINT = /^[0-9a-f]{32}$/;

/** See the module docs. */
export const remove: Command = {
  name: "remove",
  summary: "remove a device from a sync point for good",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, remote: { type: "string" }, timeout: { type: "string" } }, HELP, 2);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const device = positionals[1];
    if (device === undefined) throw new UsageError("the device to remove is required (its public key or fingerprint)", HELP);
    if (!PUBLIC_KEY.test(device) && !FINGERPRINT.test(device)) {
      throw new UsageError(`${JSON.stringify(device)} is neither a device public key (174 characters starting with B) nor a fingerprint (32 hex digits)`, HELP);
    }
    const fingerprint = FINGERPRINT.test(device) ? device : deviceFingerprint(device);
    const { remote, timeoutMs } = syncPointFlags(values, DEFAULT_TIMEOUT_MS, HELP);

    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    try {
      const attachment = await asUsage(HELP, () => withTimeout(db.attach(remote), timeoutMs, `attaching to ${redactUrl(remote)}`));
      try {
        if (!(await attachment.members()).some((m) => m.fingerprint === fingerprint)) {
          io.stderr(`note: device ${fingerprint} is not a member of ${attachment.url}; it is removed anyway, so it can never join\n`);
        }
        await withTimeout(attachment.remove(device), timeoutMs, "storing the removal");
      } finally {
        await attachment.detach({ flushTimeoutMs: timeoutMs });
      }
      io.stderr(`removed device ${fingerprint} from ${attachment.url}; the remaining members now use a new key\n`);
      return EXIT.OK;
    } finally {
      await db.close();
    }
  },
};
