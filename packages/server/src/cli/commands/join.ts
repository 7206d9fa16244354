/**
 * `hearth join <url> --ledger <name>`: attaches a local ledger (created if
 * needed) to a sync point, with a share code or as an invited device,
 * waits until both hold the same heads, prints what the ledger now holds,
 * and detaches. Run it again any time to sync once more.
 *
 * @module
 */
import { isHearthError } from "@hearth/core";
import { EXIT, parse, UsageError, type Command } from "../io.js";
import { createProgress } from "./progress.js";
import {
  asUsage, checkRemoteUrl, checkLedgerName, countDocs, LEDGER_FLAGS, LEDGER_HELP, ledgerExists, openLedger, redactUrl, timeoutOf, withTimeout,
} from "./ledger-options.js";

const DEFAULT_TIMEOUT_MS = 60_000;

const MiB = 1024 * 1024;

const HELP = `Usage: hearth join <url> --ledger <name> [--share-code <code> | --invitation <i>] [--timeout <d>] [--store <url>] [--keyring <url>]

Attaches the local ledger <name> (created if needed) to the sync point <url>, waits
until both sides hold the same heads and the same files (a progress bar on a
terminal), prints how many documents the ledger holds and its digest, and detaches. Two devices that joined with no writes in between
print the same digest; if they keep printing different ones, the sync point
shows them different histories. This device needs a share code (\`hearth share\` on an admin) or an
invitation (\`hearth device\` here, then \`hearth invite\` on an admin prints it);
a device that is already a member needs neither, and joining again just syncs.

  hearth join "http://127.0.0.1:8787/todos?token=htk_…" --ledger todos --share-code <code>

Arguments:
  <url>               the sync point: http(s)://host:port/<ledger>?token=<token>, or
                      file:///shared/dir

Options:
  --ledger <name>     the local ledger to sync into
  --share-code <c>    a one-time share code from an admin (\`hearth share\`)
  --invitation <i>    the invitation \`hearth invite\` printed on an admin
  --timeout <d>       how long to wait for the sync to finish, e.g. 2m (default 60s)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 in sync, 1 failed (KEY_REQUIRED: not invited, or the share code was
used, expired or mistyped; REMOVED: this device was removed; TIMEOUT: not in sync in
time — what arrived is kept, run it again; the sync point unreachable or the token
refused), 2 usage error.
`;

/** See the module docs. */
export const join: Command = {
  name: "join",
  summary: "sync a local ledger from a sync point (share code or invite)",
  async run(args, io) {
    const { values, positionals } = parse(
      args, { ...LEDGER_FLAGS, ledger: { type: "string" }, "share-code": { type: "string" }, invitation: { type: "string" }, timeout: { type: "string" } }, HELP, 1,
    );
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    if (positionals[0] === undefined) throw new UsageError("the sync point URL is required", HELP);
    const url = checkRemoteUrl(positionals[0], HELP);
    if (values.ledger === undefined) throw new UsageError("--ledger <name> (the local ledger to sync into) is required", HELP);
    const name = checkLedgerName(values.ledger, HELP);
    const shareCode = values["share-code"];
    if (shareCode !== undefined && shareCode.trim() === "") throw new UsageError("--share-code is empty", HELP);
    const invitation = values.invitation;
    if (invitation !== undefined && invitation.trim() === "") throw new UsageError("--invitation is empty", HELP);
    if (invitation !== undefined && shareCode !== undefined) throw new UsageError("give --invitation or --share-code, not both", HELP);
    const timeoutMs = timeoutOf(values, DEFAULT_TIMEOUT_MS, HELP);

    // A join that fails leaves no empty ledger behind: one it created is deleted again.
    const existed = ledgerExists(name, values.store);
    const db = await openLedger(name, values, HELP);
    let joined = false;
    try {
      const started = performance.now();
      const attachment = await asUsage(HELP, () =>
        withTimeout(
          db.attach(url, shareCode !== undefined ? { shareCode: shareCode.trim() } : invitation !== undefined ? { invitation: invitation.trim() } : {}),
          timeoutMs,
          `attaching to ${redactUrl(url)}`,
        ),
      ).catch(async (err: unknown) => {
        if (isHearthError(err, "KEY_REQUIRED")) {
          const { publicKey } = await db.device();
          io.stderr(
            `hearth join: this device is not a member of ${redactUrl(url)}. On a member, either run\n` +
              `  hearth share <ledger> --remote <url>            and join again with --share-code <code>, or\n` +
              `  hearth invite <ledger> ${publicKey} --remote <url>   and join again with --invitation <invitation>\n`,
          );
        }
        throw err;
      });
      let digest: string;
      try {
        const left = (): number => Math.max(1, timeoutMs - (performance.now() - started));
        await attachment.synced({ timeoutMs: left() });
        // Files follow their documents: wait for their bytes too, with a bar for big ones.
        const bar = createProgress(io.stderr, process.stderr.isTTY === true, "files", "MiB");
        const off = attachment.on("progress", (p) => {
          const moved = p.pushed + p.fetched;
          bar.update(Math.round(moved / MiB), moved, moved + p.toPush + p.toFetch);
        });
        try {
          await attachment.filesSynced({ timeoutMs: left() });
        } finally {
          off();
          bar.finish();
        }
        digest = attachment.digest();
      } finally {
        await attachment.detach();
      }
      const { live, deleted } = await countDocs(db);
      io.stdout(`in sync with ${attachment.url}: ledger ${name} holds ${live} documents (${deleted} deleted); digest ${digest}\n`);
      joined = true;
      return EXIT.OK;
    } finally {
      if (joined || existed) await db.close();
      else await db.destroy();
    }
  },
};
