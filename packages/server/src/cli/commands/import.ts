/**
 * `hearth import <ledger>`: JSON lines (as `hearth export` writes them)
 * into a ledger, created if it does not exist.
 *
 * Decisions:
 * - Every line is validated before anything of its batch is written: it
 *   must be a JSON object; `_id`, when present, a non-empty string of at
 *   most 1 KiB of UTF-8; no string may hold a lone UTF-16 surrogate (JSON's
 *   `\ud800` escapes can produce one). A line without `_id` gets a
 *   generated one. `{"_id":…,"_deleted":true}` deletes that document.
 *   `{"/": {"bytes": "<base64>"}}` is read as bytes (`../json-bytes.ts`).
 *   Blank lines are skipped.
 * - Lines are written in batches of `--batch` (default 1,000), each batch
 *   one commit: all of it or none of it is durable.
 * - A bad line stops the import with exit 1 and its line number: every
 *   line before it is written (the batch in progress is committed first),
 *   nothing from it on. Fix the line and import the rest (or all of it
 *   again: re-importing a document with its `_id` just writes it again).
 *
 * @module
 */
import { createReadStream, fstatSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { DocInput, Ledger } from "@hearth/core";
import { EXIT, parse, UsageError, type Command } from "../io.js";
import { checkLedgerName, LEDGER_FLAGS, LEDGER_HELP, openLedger } from "./ledger-options.js";
import { createProgress } from "./progress.js";
import { reviveBytes } from "../json-bytes.js";

const DEFAULT_BATCH = 1_000;
const MAX_ID_BYTES = 1024;

const HELP = `Usage: hearth import <ledger> [--input <file>] [--batch <n>] [--store <url>] [--keyring <url>]

Reads JSON lines (one document per line, as hearth export writes them) from stdin
into the ledger, creating it if needed:

  hearth import todos < todos.jsonl

Each line must be a JSON object. "_id" is kept (a line without one gets a new id);
{"_id":"…","_deleted":true} deletes that document; blank lines are skipped. Lines
are written in batches, each batch one commit. A bad line stops the import: every
line before it is written, nothing from it on, and the error names its line number.
A progress line is drawn on stderr when it is a terminal.

Options:
  --input <file>      read this file instead of stdin
  --batch <n>         lines per commit (default ${DEFAULT_BATCH})
${LEDGER_HELP}
  -h, --help          show this help

Exit codes: 0 every line imported, 1 a bad line (its number is printed; the lines
before it were imported), the ledger locked by another process, or a read or write
failed, 2 usage error.
`;

/** A validated line: a document to write, or an id to delete. */
type Op = { readonly put: DocInput } | { readonly del: string };

/** A line that cannot be imported. */
class BadLine extends Error {}

/** See the module docs. */
export const importCommand: Command = {
  name: "import",
  summary: "read JSON lines into a ledger",
  async run(args, io) {
    const { values, positionals } = parse(args, { ...LEDGER_FLAGS, input: { type: "string" }, batch: { type: "string" } }, HELP, 1);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const name = checkLedgerName(positionals[0], HELP);
    const batchSize = values.batch === undefined ? DEFAULT_BATCH : Number(values.batch);
    if (!/^\d+$/.test(values.batch ?? "1") || !(batchSize >= 1 && batchSize <= 100_000)) {
      throw new UsageError(`--batch must be a whole number from 1 to 100000, got ${JSON.stringify(values.batch)}`, HELP);
    }
    if (values.input === undefined && process.stdin.isTTY) {
      throw new UsageError(`pipe JSON lines in (hearth import ${name} < ${name}.jsonl) or pass --input <file>`, HELP);
    }
    const path = values.input === undefined ? undefined : resolve(values.input);
    const total = path === undefined ? stdinFileSize() : statSync(path).size;
    const db = await openLedger(name, values, HELP);
    const input: Readable = path === undefined ? process.stdin : createReadStream(path);
    let read = 0;
    const progress = createProgress(io.stderr, process.stderr.isTTY === true, `import ${name}`, "lines");
    const counts = { docs: 0, deletes: 0, commits: 0 };
    let batch: Op[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await commit(db, batch);
      counts.commits++;
      for (const op of batch) {
        if ("put" in op) counts.docs++;
        else counts.deletes++;
      }
      batch = [];
    };
    let lineNumber = 0;
    try {
      const lines = createInterface({ input, crlfDelay: Infinity });
      for await (const line of lines) {
        lineNumber++;
        read += Buffer.byteLength(line) + 1;
        if (line.trim() === "") continue;
        let op: Op;
        try {
          op = parseLine(line);
        } catch (err) {
          if (!(err instanceof BadLine)) throw err;
          lines.close();
          await flush();
          io.stderr(`hearth import: line ${lineNumber}: ${err.message}\n`);
          io.stderr(`${summary(name, counts)}; nothing from line ${lineNumber} on was written\n`);
          return EXIT.FAILURE;
        }
        batch.push(op);
        if (batch.length >= batchSize) {
          await flush();
          progress.update(lineNumber, total === undefined ? undefined : read, total);
        }
      }
      await flush();
    } finally {
      progress.finish();
      if (input !== process.stdin) input.destroy();
      await db.close();
    }
    io.stdout(`${summary(name, counts)}\n`);
    return EXIT.OK;
  },
};

function summary(name: string, counts: { docs: number; deletes: number; commits: number }): string {
  return `imported ${counts.docs} documents and ${counts.deletes} deletes into ledger ${name} (${counts.commits} commits)`;
}

/** Writes one batch as one commit: every call is issued in the same tick, so they join one group commit, in line order. */
async function commit(db: Ledger, ops: readonly Op[]): Promise<void> {
  const writes: Array<Promise<unknown>> = [];
  let puts: DocInput[] = [];
  for (const op of ops) {
    if ("put" in op) {
      puts.push(op.put);
      continue;
    }
    if (puts.length > 0) writes.push(db.bulk(puts));
    puts = [];
    writes.push(db.del(op.del));
  }
  if (puts.length > 0) writes.push(db.bulk(puts));
  await Promise.all(writes);
}

/** The size of stdin when it is a regular file (`< file`), for a progress bar with a percentage. */
function stdinFileSize(): number | undefined {
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

/** Parses and validates one line. @throws BadLine saying what is wrong */
export function parseLine(line: string): Op {
  let value: unknown;
  try {
    value = JSON.parse(line, reviveBytes);
  } catch (err) {
    throw new BadLine(`not valid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BadLine(`a document must be a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`);
  }
  const doc = value as Record<string, unknown>;
  if ("_id" in doc) checkId(doc._id);
  if (doc._deleted === true) {
    if (!("_id" in doc)) throw new BadLine(`a deletion ("_deleted": true) needs the "_id" of the document to delete`);
    return { del: doc._id as string };
  }
  checkStrings(doc, "document");
  return { put: doc as DocInput };
}

function checkId(id: unknown): void {
  if (typeof id !== "string") throw new BadLine(`"_id" must be a string, got ${id === null ? "null" : typeof id}`);
  if (id.length === 0) throw new BadLine(`"_id" must not be empty (leave it out to have one generated)`);
  if (!id.isWellFormed()) throw new BadLine(`"_id" holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)`);
  if (Buffer.byteLength(id, "utf8") > MAX_ID_BYTES) throw new BadLine(`"_id" is longer than ${MAX_ID_BYTES} bytes of UTF-8`);
}

function checkStrings(value: unknown, path: string): void {
  if (typeof value === "string") {
    if (!value.isWellFormed()) throw new BadLine(`${path} is a string with a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)`);
    return;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkStrings(item, `${path}[${i}]`));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (!key.isWellFormed()) throw new BadLine(`${path} has a key with a lone UTF-16 surrogate`);
    checkStrings(item, `${path}.${key}`);
  }
}
