/**
 * What the commands that work on a local ledger share (`inspect`, `export`,
 * `import`, `invite`, `share`, `join`, `device`): the `--store` and
 * `--keyring` flags with the same defaults as `open()`, opening a ledger
 * that must already exist (so a typo in a name reports "no such ledger"
 * instead of creating an empty one), and turning a bad URL or name on the
 * command line into a usage error (exit 2) rather than a failure.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { defaultStoreUrl, fileUrlToDir, hearthDir, KEYRING_DIR, HearthError, isHearthError, open, parseLocation, type Ledger } from "@hearth/core";
import { parseDuration, UsageError } from "../io.js";

/** parseArgs options of the ledger location flags. */
export const LEDGER_FLAGS = {
  store: { type: "string" },
  keyring: { type: "string" },
} as const;

/** Help text of the ledger location flags. */
export const LEDGER_HELP = `Where the ledger lives (defaults are those of open() in @hearth/core):
  --store <url>       the ledger's store: file:///dir or a directory path
                      (default $HEARTH_DIR/<ledger>, else ~/.hearth/<ledger>)
  --keyring <url>     the device keyring: file:///dir or a directory path
                      (default $HEARTH_DIR/.keyring, else ~/.hearth/.keyring)`;

/** The device keyring URL `open()` uses by default. */
export function defaultKeyringUrl(): string {
  return pathToFileURL(join(hearthDir(), KEYRING_DIR)).href;
}

/**
 * A flag value as a store or keyring URL: URLs pass through, anything else
 * is a directory path (relative to the working directory), because typing
 * `file://` before a path is the commonest mistake.
 */
export function locationUrl(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : pathToFileURL(resolve(value)).href;
}

/** The store URL of ledger `name`: `--store`, else the directory `open()` picks. */
export function storeUrlOf(name: string, store: string | undefined): string {
  return store !== undefined ? locationUrl(store) : defaultStoreUrl(name);
}

/** Throws a usage error unless `name` is a ledger name `open()` accepts. */
export function checkLedgerName(name: string | undefined, help: string): string {
  if (name === undefined) throw new UsageError("the ledger name is required", help);
  if (name.length === 0 || name.length > 200 || name === "." || name === "..") {
    throw new UsageError(`${JSON.stringify(name)} is not a ledger name (1–200 characters, not "." or "..")`, help);
  }
  return name;
}

/** Options of {@link openLedger}. */
export interface OpenLedgerOptions {
  readonly store?: string | undefined;
  readonly keyring?: string | undefined;
  /** Refuse (NOT_FOUND) instead of creating a ledger whose file store does not exist yet. */
  readonly mustExist?: boolean;
}

/**
 * Opens ledger `name` as the flags say.
 * @throws UsageError for a malformed `--store`/`--keyring`; HearthError `NOT_FOUND` (with `mustExist`), `LOCKED`, `KEY_REQUIRED`
 */
export async function openLedger(name: string, options: OpenLedgerOptions, help: string): Promise<Ledger> {
  const store = storeUrlOf(name, options.store);
  const keyring = options.keyring === undefined ? undefined : locationUrl(options.keyring);
  return asUsage(help, async () => {
    const location = parseLocation(store, "store");
    if (keyring !== undefined) parseLocation(keyring, "keyring");
    if (options.mustExist && location.scheme === "file" && !hasFiles(location.path)) {
      throw new HearthError("NOT_FOUND", `there is no ledger ${JSON.stringify(name)} at ${location.path}; check the name, or pass --store (and $HEARTH_DIR) as when it was created`);
    }
    return open(name, { store, ...(keyring !== undefined && { keyring }) });
  });
}

/** The directory of a `file:` store URL, or undefined for other schemes. */
export function storeDir(url: string): string | undefined {
  return url.startsWith("file:") ? fileUrlToDir(url) : undefined;
}

/** Runs `fn`, turning `INVALID_URL` (a flag's URL) into a usage error. */
export async function asUsage<T>(help: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isHearthError(err, "INVALID_URL")) throw new UsageError(err.message, help);
    throw err;
  }
}

/** A device public key as printed by `hearth device`: base64url of an uncompressed P-256 point (65 bytes). */
export const PUBLIC_KEY = /^B[A-Za-z0-9_-]{173}$/;

/** The fingerprint core shows for a device public key (hex of the first 16 bytes of its SHA-256). */
export function deviceFingerprint(publicKey: string): string {
  return createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest("hex").slice(0, 32);
}

/** `url` with its `token` parameter hidden: tokens are credentials and never printed. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, "$1…");
}

/**
 * True unless the ledger's store is a file directory that holds nothing
 * yet, i.e. opening it would create it (other schemes cannot tell: true).
 */
export function ledgerExists(name: string, store: string | undefined): boolean {
  const url = storeUrlOf(name, store);
  const dir = url.startsWith("file:") ? fileUrlToDir(url) : undefined;
  return dir === undefined || hasFiles(dir);
}

function hasFiles(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/** Documents of a ledger by state, counted a page at a time (never all in memory). */
export async function countDocs(db: Ledger): Promise<{ live: number; deleted: number }> {
  let live = 0;
  let deleted = 0;
  for await (const rows of changePages(db)) {
    for (const row of rows) {
      if ("_deleted" in row.value && row.value._deleted === true) deleted++;
      else live++;
    }
  }
  return { live, deleted };
}

/** Rows of a page of the change feed. */
export type ChangeRows = Awaited<ReturnType<Ledger["changes"]>>["rows"];

/** Every document once (live and deleted), in the order it last changed, in pages of `pageSize`. */
export async function* changePages(db: Ledger, pageSize = 1_000): AsyncGenerator<ChangeRows> {
  let clock: string[] = [];
  for (;;) {
    const page = await db.changes(clock, { limit: pageSize });
    if (page.rows.length === 0) return;
    yield page.rows;
    clock = page.clock;
  }
}

/** Races `promise` against a deadline (`TIMEOUT`); the work itself is not cancelled (closing the ledger ends it). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HearthError("TIMEOUT", `${what} took longer than ${ms} ms; is the sync point reachable? (raise --timeout if it is merely slow)`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Help text of `--remote`. */
export const REMOTE_HELP = `  --remote <url>      the sync point: http(s)://host:port/<ledger>?token=<token>
                      (a read-write token from \`hearth token create\`), or file:///shared/dir`;

/**
 * Throws a usage error unless `url` names a sync point this CLI can reach:
 * the sync server or a shared directory (`memory://` lives and dies with
 * one process, so it is useless here). Core checks the rest at attach.
 */
export function checkRemoteUrl(url: string, help: string): string {
  if (!/^(https?|file):\/\/./i.test(url)) {
    throw new UsageError(`${JSON.stringify(redactUrl(url))} is not a sync point URL; use http(s)://host:port/<ledger>?token=<token> or file:///shared/dir`, help);
  }
  return url;
}

/** Member roles, as `--role` takes them. */
export const ROLE_NAMES = ["admin", "writer", "reader"] as const;

/** The `--role` flag's value (default `writer`). */
export function roleOf(values: { role?: string | undefined }, help: string): (typeof ROLE_NAMES)[number] {
  const role = values.role ?? "writer";
  if (!(ROLE_NAMES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLE_NAMES.join(", ")}, got ${JSON.stringify(role)}`, help);
  return role as (typeof ROLE_NAMES)[number];
}

/** The `--timeout` flag's value in ms, or `fallbackMs` when it is absent. */
export function timeoutOf(values: { timeout?: string | undefined }, fallbackMs: number, help: string): number {
  return values.timeout === undefined ? fallbackMs : parseDuration(values.timeout, "--timeout", help);
}

/** The required `--remote` sync point URL and the `--timeout` of commands that attach to it (invite, share). */
export function syncPointFlags(values: { remote?: string | undefined; timeout?: string | undefined }, fallbackMs: number, help: string): { remote: string; timeoutMs: number } {
  if (values.remote === undefined) throw new UsageError("--remote <url> (the sync point) is required", help);
  const timeoutMs = timeoutOf(values, fallbackMs, help);
  return { remote: checkRemoteUrl(values.remote, help), timeoutMs };
}
