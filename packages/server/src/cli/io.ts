/**
 * What every CLI command shares: where output goes, the documented exit
 * codes, usage errors, and parsing of arguments (node:util `parseArgs`,
 * strict) and of human-friendly values (durations, sizes).
 *
 * Exit codes: `0` success, `1` the command ran and failed (storage, a
 * port in use, an unknown token id), `2` usage error (unknown command or
 * flag, a bad value). Scripts can tell "fix the command line" from "retry
 * or look at the server".
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** The documented exit codes. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** Where a command writes, and how it learns it should stop (serve). */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Resolves with a reason when a long-running command should stop (default: SIGINT or SIGTERM). */
  waitForStop?(): Promise<string>;
}

/** One command: `hearth <name> …`, one file in `commands/`. */
export interface Command {
  readonly name: string;
  /** One line for `hearth --help`. */
  readonly summary: string;
  /** Runs with the arguments after the command name; resolves the exit code. */
  run(args: string[], io: CliIO): Promise<number>;
}

/** A mistake on the command line (exit 2), with the help to show. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Config<O extends Options> = { args: string[]; options: O & { help: { type: "boolean"; short: "h" } }; allowPositionals: true; strict: true };
/** What {@link parse} returns: parseArgs' result for these options (plus `help`). */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<Config<O>>>;

/**
 * Parses `args` strictly; every command takes `--help`/`-h`. Unknown flags,
 * missing values and stray positionals become a {@link UsageError}.
 */
export function parse<O extends Options>(args: string[], options: O, help: string, positionals = 0): Parsed<O> {
  const config: Config<O> = { args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true };
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message, help);
  }
  if (!(parsed.values as { help?: boolean }).help && parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals])}`, help);
  }
  return parsed;
}

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `45s`, `2w` → milliseconds. */
export function parseDuration(text: string, flag: string, help: string): number {
  const match = /^(\d+)([smhdw])$/.exec(text);
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : NaN;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) throw new UsageError(`${flag} must be a positive duration like 30d, 12h, 90m or 45s, got ${JSON.stringify(text)}`, help);
  return ms;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `1048576`, `512k`, `32MiB`, `1g` → bytes (binary units). */
export function parseSize(text: string, flag: string, help: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit ? Number(match[1]) * unit : NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new UsageError(`${flag} must be a positive size like 32MiB, 512k or 1048576, got ${JSON.stringify(text)}`, help);
  return bytes;
}

/** A port number 0–65535. */
export function parsePort(text: string, help: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be 0–65535, got ${JSON.stringify(text)}`, help);
  return port;
}

/** Resolves on SIGINT or SIGTERM. */
export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(signal);
    };
    const onInt = on("SIGINT");
    const onTerm = on("SIGTERM");
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onTerm);
  });
}
