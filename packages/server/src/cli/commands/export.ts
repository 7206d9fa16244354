/**
 * `hearth export <ledger>`: the ledger's documents as JSON lines, one
 * document per line, so `hearth import` (or `jq`, or any other tool) can
 * read them back.
 *
 * Decisions:
 * - Live documents only by default (what `allDocs()` returns); with
 *   `--include-deleted`, deleted ones too, as `{"_id":…,"_deleted":true}`,
 *   which `hearth import` turns back into deletes.
 * - Order: the order documents last changed (the change feed), read a
 *   page at a time, so memory stays flat however large the ledger is.
 *   Replaying the file in that order reproduces the documents.
 * - Bytes (`Uint8Array` fields) as `{"/": {"bytes": "<base64>"}}`,
 *   DAG-JSON's form, which `hearth import` reads back (`../json-bytes.ts`).
 * - Only each document's winning version: conflicts (`_conflicts`) and
 *   history are not exported; an export is a snapshot, not a replica.
 * - stdout carries nothing but the JSON lines; the progress line (a TTY
 *   only) and the summary go to stderr. `--output` writes a file
 *   atomically (a temp file renamed at the end), so a failed export never
 *   leaves a truncated file that looks complete.
 *
 * @module
 */
import { once } from "node:events";
import { createAtomicFile } from "@hearth/core";
import { resolve } from "node:path";
import { EXIT, parse, type CliIO, type Command } from "../io.js";
import { changePages, checkLedgerName, LEDGER_FLAGS, LEDGER_HELP, openLedger } from "./ledger-options.js";
import { createProgress } from "./progress.js";
import { toJsonLine } from "../json-bytes.js";

const HELP = `Usage: hearth export <ledger> [--include-deleted] [--output <file>] [--store <url>] [--keyring <url>]

Writes the ledger's documents as JSON lines (one document per line, with its _id) on
stdout, in the order they last changed:

  hearth export todos > todos.jsonl

Only live documents unless --include-deleted, which adds deleted ones as
{"_id":"…","_deleted":true} (hearth import deletes those). Conflicting versions and
history are not exported. A progress line is drawn on stderr when it is a terminal.

Options:
  --include-deleted   also export deleted documents, as tombstones
  --output <file>     write to this file instead of stdout (atomically: all or nothing)
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 ok, 1 no such ledger, locked by another process, or a read or write
failed, 2 usage error.
`;

/** See the module docs. */
export const exportCommand: Command = {
  name: "export",
  summary: "write a ledger's documents as JSON lines",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, "include-deleted": { type: "boolean" }, output: { type: "string" } }, HELP, 1);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const db = await openLedger(name, { ...values, mustExist: true }, HELP);
    const sink = values.output === undefined ? stdoutSink(io) : await fileSink(resolve(values.output));
    const progress = createProgress(io.stderr, process.stderr.isTTY === true, `export ${name}`, "documents");
    let live = 0;
    let deleted = 0;
    try {
      for await (const rows of changePages(db)) {
        let chunk = "";
        for (const row of rows) {
          const tombstone = "_deleted" in row.value && row.value._deleted === true;
          if (tombstone) {
            if (!values["include-deleted"]) continue;
            deleted++;
          } else {
            live++;
          }
          chunk += `${toJsonLine(row.value)}\n`;
        }
        if (chunk !== "") await sink.write(chunk);
        progress.update(live + deleted);
      }
      await sink.commit();
    } catch (err) {
      await sink.abort();
      throw err;
    } finally {
      progress.finish();
      await db.close();
    }
    io.stderr(`exported ${live} documents${values["include-deleted"] ? ` and ${deleted} deleted` : ""} from ledger ${name}${values.output === undefined ? "" : ` to ${resolve(values.output)}`}\n`);
    return EXIT.OK;
  },
};

interface Sink {
  write(text: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Writes through the CLI's stdout, waiting whenever the real stdout's buffer is full. */
function stdoutSink(io: CliIO): Sink {
  return {
    async write(text) {
      io.stdout(text);
      // Pipes are synchronous on Linux but not everywhere: never buffer a whole ledger in memory.
      if (process.stdout.writableNeedDrain) await once(process.stdout, "drain");
    },
    commit: async () => undefined,
    abort: async () => undefined,
  };
}

/** Writes `path` through core's atomic file (temp file beside it, fsynced, renamed into place on commit). */
async function fileSink(path: string): Promise<Sink> {
  const file = await createAtomicFile(path, { mode: 0o644 });
  return {
    write: (text) => file.write(Buffer.from(text, "utf8")),
    commit: async () => void (await file.commit()),
    abort: () => file.abort(),
  };
}
