/**
 * `hearth token create | list | revoke`: the per-ledger tokens clients
 * present. A ledger exists on the server once a token was created for it.
 * The token itself is printed once, on stdout alone (so
 * `TOKEN=$(hearth token create …)` works); only its hash is stored.
 *
 * @module
 */
import { LEDGER_NAME } from "@hearth/core/wire";
import type { Backend, Rights, TokenRecord } from "../../backend/types.js";
import { openBackend } from "../../backend/open.js";
import { TOKEN_ID } from "../../backend/token-secret.js";
import { BACKEND_FLAGS, BACKEND_HELP, backendOptions } from "../backend-options.js";
import { EXIT, parse, parseDuration, UsageError, type CliIO, type Command } from "../io.js";

const HELP = `Usage: hearth token <create|list|revoke> [options]

Manages the tokens clients use to reach a ledger (Authorization: Bearer, or ?token= in the URL).

Commands:
  create --ledger <L> --rights <read|rw> [--expires <30d>]   mint a token (printed once)
  list [--ledger <L>] [--json]                                list tokens (never their secrets)
  revoke <id>                                                 revoke a token at once

Run \`hearth token <command> --help\` for details.
Exit codes: 0 ok, 1 failed (e.g. unknown token id), 2 usage error.
`;

const CREATE_HELP = `Usage: hearth token create --ledger <L> --rights <read|rw> [--expires <duration>] [storage]

Mints a token for ledger L (creating the ledger on the server) and prints it on stdout.
It is shown only this once; the server keeps only its hash.

Options:
  --ledger <L>         ledger name (1–128 of A-Z a-z 0-9 . _ -)
  --rights <r>         read, or rw (read-write; also accepted: read-write)
  --expires <d>        lifetime, e.g. 30d, 12h, 90m (default: never expires)
${BACKEND_HELP}
  -h, --help           show this help
`;

const LIST_HELP = `Usage: hearth token list [--ledger <L>] [--json] [storage]

Lists tokens: id, ledger, rights, created, expires, state. Secrets are never shown.

Options:
  --ledger <L>         only tokens of ledger L
  --json               one JSON record per line
${BACKEND_HELP}
  -h, --help           show this help
`;

const REVOKE_HELP = `Usage: hearth token revoke <id> [storage]

Revokes the token with this id (from \`hearth token list\`); requests with it fail at once.

Options:
${BACKEND_HELP}
  -h, --help           show this help
`;

/** See the module docs. */
export const token: Command = {
  name: "token",
  summary: "create, list and revoke ledger tokens",
  async run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "create":
        return create(rest, io);
      case "list":
        return list(rest, io);
      case "revoke":
        return revoke(rest, io);
      case undefined:
      case "-h":
      case "--help":
        if (sub === undefined) throw new UsageError("missing token command", HELP);
        io.stdout(HELP);
        return EXIT.OK;
      default:
        throw new UsageError(`unknown token command ${JSON.stringify(sub)}`, HELP);
    }
  },
};

async function create(args: string[], io: CliIO): Promise<number> {
  const { values } = parse(args, { ...BACKEND_FLAGS, ledger: { type: "string" }, rights: { type: "string" }, expires: { type: "string" } }, CREATE_HELP);
  if (values.help) return help(io, CREATE_HELP);
  if (values.ledger === undefined) throw new UsageError("--ledger is required", CREATE_HELP);
  if (!LEDGER_NAME.test(values.ledger)) throw new UsageError(`--ledger ${JSON.stringify(values.ledger)} is not a ledger name (1–128 of A-Z a-z 0-9 . _ -, not starting with ".")`, CREATE_HELP);
  const rights = rightsOf(values.rights);
  const expiresAt = values.expires === undefined ? undefined : Date.now() + parseDuration(values.expires, "--expires", CREATE_HELP);
  return withBackend(values, async (backend) => {
    const { record, token } = await backend.tokens.create({ ledger: values.ledger!, rights, ...(expiresAt !== undefined && { expiresAt }) });
    io.stdout(`${token}\n`);
    const expiry = record.expiresAt === undefined ? "never expires" : `expires ${new Date(record.expiresAt).toISOString()}`;
    io.stderr(`token ${record.id} for ledger ${record.ledger} (${record.rights}, ${expiry}); it is shown only once\n`);
    return EXIT.OK;
  });
}

async function list(args: string[], io: CliIO): Promise<number> {
  const { values } = parse(args, { ...BACKEND_FLAGS, ledger: { type: "string" }, json: { type: "boolean" } }, LIST_HELP);
  if (values.help) return help(io, LIST_HELP);
  return withBackend(values, async (backend) => {
    const records = await backend.tokens.list(values.ledger);
    if (values.json) {
      for (const r of records) io.stdout(`${JSON.stringify({ ...r, state: stateOf(r) })}\n`);
      return EXIT.OK;
    }
    const rows = [["ID", "LEDGER", "RIGHTS", "CREATED", "EXPIRES", "STATE"], ...records.map((r) => [r.id, r.ledger, r.rights, iso(r.createdAt), r.expiresAt === undefined ? "never" : iso(r.expiresAt), stateOf(r)])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) io.stdout(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
    return EXIT.OK;
  });
}

async function revoke(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, BACKEND_FLAGS, REVOKE_HELP, 1);
  if (values.help) return help(io, REVOKE_HELP);
  const id = positionals[0];
  if (id === undefined) throw new UsageError("the id of the token to revoke is required", REVOKE_HELP);
  if (!TOKEN_ID.test(id)) throw new UsageError(`${JSON.stringify(id)} is not a token id (16 hex digits, as \`hearth token list\` shows)`, REVOKE_HELP);
  return withBackend(values, async (backend) => {
    if (!(await backend.tokens.revoke(id))) {
      io.stderr(`hearth token revoke: no token ${id}\n`);
      return EXIT.FAILURE;
    }
    io.stderr(`token ${id} revoked\n`);
    return EXIT.OK;
  });
}

function help(io: CliIO, text: string): number {
  io.stdout(text);
  return EXIT.OK;
}

function rightsOf(value: string | undefined): Rights {
  if (value === "read") return "read";
  if (value === "rw" || value === "read-write") return "read-write";
  throw new UsageError(value === undefined ? "--rights is required (read or rw)" : `--rights must be read or rw, got ${JSON.stringify(value)}`, CREATE_HELP);
}

async function withBackend(values: { data?: string; s3?: string; postgres?: string; schema?: string }, fn: (backend: Backend) => Promise<number>): Promise<number> {
  const backend = await openBackend(backendOptions(values));
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

function stateOf(record: TokenRecord): string {
  if (record.revokedAt !== undefined) return "revoked";
  if (record.expiresAt !== undefined && record.expiresAt <= Date.now()) return "expired";
  return "active";
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
