/**
 * `hearth inspect <ledger>`: what a local ledger holds — documents (live
 * and deleted), heads, state root, bytes on disk — without changing any
 * document (closing it checkpoints, as every close does).
 *
 * Attachments: a ledger does not record which sync points it was attached
 * to (its per-point bookkeeping is keyed by a digest of the sync point's
 * URL, which cannot be turned back into the URL), and attachments live only
 * in the process that made them. So inspect reports the attachments of the
 * ledger it opened — always none — and says so, rather than guessing.
 *
 * @module
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SyncStatus } from "@hearth/core";
import { EXIT, parse, type Command } from "../io.js";
import { checkLedgerName, countDocs, LEDGER_FLAGS, LEDGER_HELP, openLedger, storeDir } from "./ledger-options.js";

const HELP = `Usage: hearth inspect <ledger> [--store <url>] [--keyring <url>] [--json]

Prints what a local ledger holds: documents (live and deleted), heads, state root,
and bytes on disk (after closing it). Changes no document; the ledger must exist, and
must not be open in another process (a running app holds its lock).

Attachments to sync points live only in the process that made them and a ledger
keeps no list of them, so this shows "none attached in this process".

Options:
${LEDGER_HELP}
  --json              print one JSON object instead of text
  -h, --help          show this help

Exit codes: 0 ok, 1 no such ledger, locked by another process, or unreadable (e.g.
KEY_REQUIRED with the wrong keyring), 2 usage error.
`;

/** What `inspect --json` prints. */
export interface InspectReport {
  readonly ledger: string;
  readonly store: string;
  readonly docs: { readonly live: number; readonly deleted: number };
  readonly heads: string[];
  readonly root: string;
  /** Bytes of the store's files; absent for stores that are not directories. */
  readonly bytes?: number;
  readonly attachments: Array<{ readonly url: string } & SyncStatus>;
}

/** See the module docs. */
export const inspect: Command = {
  name: "inspect",
  summary: "show a local ledger's documents, heads, root and size",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, json: { type: "boolean" } }, HELP, 1);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    let report: InspectReport;
    try {
      report = {
        ledger: name,
        store: db.url,
        docs: await countDocs(db),
        heads: db.heads(),
        root: await db.root(),
        attachments: db.attachments().map((a) => ({ url: a.url, ...a.status() })),
      };
    } finally {
      await db.close();
    }
    // Measured once closed: what stays on disk, after close's checkpoint.
    const dir = storeDir(report.store);
    if (dir !== undefined) report = { ...report, bytes: directoryBytes(dir) };
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : text(report));
    return EXIT.OK;
  },
};

function text(r: InspectReport): string {
  const lines = [
    `ledger       ${r.ledger}`,
    `store        ${r.store}`,
    `documents    ${r.docs.live} live, ${r.docs.deleted} deleted`,
    `heads        ${r.heads.length === 0 ? "none (empty ledger)" : r.heads.join("\n             ")}`,
    `root         ${r.root}`,
    ...(r.bytes !== undefined ? [`on disk      ${formatBytes(r.bytes)}`] : []),
    `attachments  ${
      r.attachments.length === 0
        ? "none attached in this process (a ledger keeps no list of its sync points)"
        : r.attachments.map((a) => `${a.url}: ${a.state}, ${a.pending} to push, ${a.behind} behind${a.error ? `, ${a.error.code}` : ""}`).join("\n             ")
    }`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Total size of the files under `dir` (the store's log, index and lock). */
function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directoryBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}
