/**
 * Structured logs: one JSON object per line, so a log pipeline can parse
 * them without guessing. The server logs one line per request (method,
 * path, status, duration) and one per watch session. Paths are logged
 * without their query, so a token a careless client put in the URL never
 * lands in a log.
 *
 * @module
 */

/** One log record. */
export interface LogEntry {
  readonly level: "info" | "warn" | "error";
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Where log records go. Tests pass {@link silentLogger}. */
export type Logger = (entry: LogEntry) => void;

/** A logger writing each record as one JSON line (default: to stdout), stamped with the time. */
export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  return (entry) => write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

/** A logger that drops everything. */
export const silentLogger: Logger = () => undefined;
