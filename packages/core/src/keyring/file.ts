/**
 * The file keyring (Node only): a directory readable only by its owner.
 *
 * ```
 * <dir>/                 mode 0700
 *   identity.json        mode 0600  ECDH P-256 key pair as JWK
 *   signing.json         mode 0600  ECDSA P-256 signing pair as JWK
 *   keys/                mode 0700
 *     <fingerprint>.json mode 0600  { version, key (base64url), label, shareable, createdAt }
 * ```
 *
 * `shareable: true` marks a key that may be wrapped for other devices (a
 * sync point's key); files without the field (older ones included) hold
 * local keys, which `wrapKey` refuses. The flag is only ever added, by
 * replacing the file atomically, never removed.
 *
 * Why a file per key: a second process (another ledger, the CLI) may add keys
 * to the same keyring at the same moment. Nothing here is ever
 * read-modified-written, so no writer can overwrite another's key. Every file
 * is written with `writeFileAtomic` (platform/durable-file.ts) in its
 * create-only form: a temp file, fsynced, then hard-linked into place
 * (`link` fails if the name exists), which makes creation atomic *and*
 * exclusive. Two
 * processes racing to create the identity therefore end with one identity:
 * the loser discards its own and reads the winner's.
 *
 * @module
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importDataKey, generateRawDataKey } from "../crypto/data-key.js";
import { fromBase64Url, toBase64Url } from "../crypto/encoding.js";
import { assertFingerprint } from "../crypto/fingerprint.js";
import { generateIdentityJwk, identityFromJwk, type IdentityJwk } from "../crypto/identity.js";
import { generateSigningJwk, signingFromJwk, type SigningJwk, type SigningPair } from "../crypto/signing.js";
import { HearthError, isHearthError } from "../errors.js";
import { TEMP_PREFIX, writeFileAtomic } from "../store/durable-file.js";
import type { DataKey, DeviceIdentity, Fingerprint, KeyOptions, Keyring } from "./types.js";
import {
  assertLabel, assertWrapArguments, assertWrapped, keyMissing, notShareable, shareableOption, unwrapRawKey, wrapRawKey,
} from "./wrapping.js";

const FILE_FORMAT_VERSION = 1;
const KEY_FILE_PATTERN = /^([0-9a-f]{32})\.json$/;
/** Temp files older than this are leftovers of a crashed writer, not a write in progress. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** What `keys/<fingerprint>.json` holds. */
interface KeyFile {
  version: number;
  key: string;
  label?: string;
  /** Present and true only for keys that may be wrapped for other devices. */
  shareable?: boolean;
  createdAt: string;
}

/** A key file read back and checked. */
interface ReadKey {
  readonly dataKey: DataKey;
  readonly raw: Uint8Array;
  readonly file: KeyFile;
}

/** What `identity.json` holds. */
interface IdentityFile extends IdentityJwk {
  version: number;
  createdAt: string;
}

/** What `signing.json` holds. */
interface SigningFile extends SigningJwk {
  version: number;
  createdAt: string;
}

/**
 * The directory a `file:///…` keyring URL names.
 * @throws HearthError `INVALID_URL` if `url` is not an absolute `file:` URL.
 */
export function fileKeyringDirFromUrl(url: string): string {
  if (typeof url !== "string") throw new TypeError(`keyring URL must be a string, got ${typeof url}`);
  if (!url.startsWith("file://")) {
    throw new HearthError("INVALID_URL", `file keyring URL must look like "file:///absolute/dir", got ${JSON.stringify(url)}`);
  }
  try {
    return fileURLToPath(url);
  } catch (cause) {
    throw new HearthError("INVALID_URL", `file keyring URL ${JSON.stringify(url)} does not name a local directory`, { cause });
  }
}

/**
 * Opens the file keyring in `dir` (a path or a `file:///…` URL), creating
 * the directory with owner-only permissions if needed. Safe to open from
 * several processes at once.
 *
 * @throws HearthError `STORAGE_FAILED` if the directory cannot be created or
 *   secured; `INVALID_URL` for a malformed `file:` URL.
 * @example
 * ```ts
 * const keyring = await openFileKeyring(join(os.homedir(), ".hearth", "keyring"));
 * const me = await keyring.identity();
 * console.log(me.fingerprint);
 * ```
 */
export async function openFileKeyring(dir: string): Promise<Keyring> {
  if (typeof dir !== "string" || dir.length === 0) throw new TypeError(`keyring directory must be a non-empty string`);
  const root = resolve(dir.startsWith("file:") ? fileKeyringDirFromUrl(dir) : dir);
  const keysDir = join(root, "keys");
  // Synchronous, as the reads of its small files below: each of these calls takes microseconds,
  // and as thread-pool hops (nine, four in a row) they were ~1.5 ms of opening a ledger.
  await io(`create keyring directory ${root}`, async () => {
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask and ignored for existing
    // directories; the keyring must be owner-only regardless.
    chmodSync(root, 0o700);
    chmodSync(keysDir, 0o700);
  });
  removeStaleTemps(root);
  removeStaleTemps(keysDir);
  return new FileKeyring(root, keysDir);
}

class FileKeyring implements Keyring {
  readonly url: string;
  readonly #keys = new Map<Fingerprint, DataKey>();
  /** Keys known to be shareable; the flag is never removed, so this cache cannot go stale. */
  readonly #shareable = new Set<Fingerprint>();
  #identity: Promise<DeviceIdentity> | undefined;
  #closed = false;

  constructor(
    private readonly root: string,
    private readonly keysDir: string,
  ) {
    this.url = pathToFileURL(root).href;
  }

  async identity(): Promise<DeviceIdentity> {
    this.#assertOpen();
    this.#identity ??= this.#loadOrCreateIdentity().catch((err: unknown) => {
      this.#identity = undefined;
      throw err;
    });
    return this.#identity;
  }

  async getKey(fingerprint: Fingerprint): Promise<DataKey | undefined> {
    this.#assertOpen();
    assertFingerprint(fingerprint);
    // A miss goes to disk every time: another process may have added the key since.
    return this.#keys.get(fingerprint) ?? (await this.#readKey(fingerprint));
  }

  async createKey(label?: string, options?: KeyOptions): Promise<DataKey> {
    this.#assertOpen();
    assertLabel(label);
    return this.#storeKey(generateRawDataKey(), label, shareableOption(options));
  }

  async importKey(raw: Uint8Array, label?: string, options?: KeyOptions): Promise<DataKey> {
    this.#assertOpen();
    assertLabel(label);
    return this.#storeKey(raw, label, shareableOption(options));
  }

  async wrapKey(fingerprint: Fingerprint, wrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen();
    assertFingerprint(fingerprint);
    assertWrapArguments(wrappingKey, iv, additionalData, "wrapKey");
    // Read from disk each time: the raw bytes are not kept in memory between wraps.
    const read = await this.#readKeyFile(fingerprint);
    if (!read) throw keyMissing(fingerprint, this.url);
    try {
      if (read.file.shareable !== true) throw notShareable(fingerprint, this.url);
      return await wrapRawKey(read.raw, wrappingKey, iv, additionalData);
    } finally {
      read.raw.fill(0);
    }
  }

  async unwrapKey(wrapped: Uint8Array, unwrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array, label?: string): Promise<DataKey> {
    this.#assertOpen();
    assertWrapped(wrapped);
    assertWrapArguments(unwrappingKey, iv, additionalData, "unwrapKey");
    assertLabel(label);
    const raw = await unwrapRawKey(wrapped, unwrappingKey, iv, additionalData);
    try {
      this.#assertOpen();
      return await this.#storeKey(raw, label, true);
    } finally {
      raw.fill(0);
    }
  }

  async listKeys(): Promise<Fingerprint[]> {
    this.#assertOpen();
    const names = await io(`list keys in ${this.keysDir}`, async () => readdirSync(this.keysDir));
    return names.flatMap((name) => KEY_FILE_PATTERN.exec(name)?.[1] ?? []).sort() as Fingerprint[];
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #storeKey(raw: Uint8Array, label: string | undefined, shareable: boolean): Promise<DataKey> {
    const dataKey = await importDataKey(raw);
    const fingerprint = dataKey.fingerprint;
    const cached = this.#keys.get(fingerprint);
    if (cached && (!shareable || this.#shareable.has(fingerprint))) return cached;
    const path = this.#keyPath(fingerprint);
    const file: KeyFile = { version: FILE_FORMAT_VERSION, key: toBase64Url(raw), createdAt: new Date().toISOString() };
    if (label !== undefined) file.label = label;
    if (shareable) file.shareable = true;
    if (!(await writeExclusive(path, encodeKeyFile(file)))) {
      // The key is already on disk (imported before, or by another process).
      // Keep that file unless it is unreadable (this import repairs it) or
      // this call makes a local key shareable (the file is replaced with the
      // flag added, label and date kept).
      let existing: ReadKey | undefined;
      try {
        existing = await this.#readKeyFile(fingerprint);
      } catch (err) {
        if (!isHearthError(err, "INTEGRITY")) throw err;
      }
      if (existing) existing.raw.fill(0);
      if (existing && (!shareable || existing.file.shareable === true)) return this.#remember(existing.dataKey, existing.file.shareable === true);
      await writeReplacing(path, encodeKeyFile(existing ? { ...existing.file, shareable: true } : file));
    }
    return this.#remember(dataKey, shareable);
  }

  async #readKey(fingerprint: Fingerprint): Promise<DataKey | undefined> {
    const read = await this.#readKeyFile(fingerprint);
    if (!read) return undefined;
    read.raw.fill(0);
    return this.#remember(read.dataKey, read.file.shareable === true);
  }

  /** Caches a key, keeping one object per key (another reader may have cached it meanwhile). */
  #remember(dataKey: DataKey, shareable: boolean): DataKey {
    if (shareable) this.#shareable.add(dataKey.fingerprint);
    const cached = this.#keys.get(dataKey.fingerprint);
    if (cached) return cached;
    this.#keys.set(dataKey.fingerprint, dataKey);
    return dataKey;
  }

  /** Reads and checks a key file; the caller zeroes `raw`. */
  async #readKeyFile(fingerprint: Fingerprint): Promise<ReadKey | undefined> {
    const path = this.#keyPath(fingerprint);
    const text = await readIfExists(path);
    if (text === undefined) return undefined;
    const damaged = (why: string, cause?: unknown): HearthError =>
      new HearthError("INTEGRITY", `key file ${path} is damaged (${why}); restore it from a backup or import the key again`, { cause });
    let read: ReadKey;
    try {
      const file = JSON.parse(text) as Partial<KeyFile>;
      if (file.version !== FILE_FORMAT_VERSION || typeof file.key !== "string") throw damaged("unknown format");
      if (file.shareable !== undefined && typeof file.shareable !== "boolean") throw damaged("shareable is not a boolean");
      const raw = fromBase64Url(file.key);
      read = { dataKey: await importDataKey(raw), raw, file: file as KeyFile };
    } catch (err) {
      throw isHearthError(err) ? err : damaged("not a key", err);
    }
    if (read.dataKey.fingerprint !== fingerprint) {
      read.raw.fill(0);
      throw damaged(`it holds key ${read.dataKey.fingerprint}`);
    }
    return read;
  }

  async #loadOrCreateIdentity(): Promise<DeviceIdentity> {
    // The signing pair lives in its own file, created the same exclusive
    // way, so keyrings made before it existed gain one without a rewrite.
    const signing = await this.#loadOrCreate("signing.json", () => this.#readSigning(), async () => {
      const file: SigningFile = { version: FILE_FORMAT_VERSION, ...(await generateSigningJwk()), createdAt: new Date().toISOString() };
      return file;
    });
    return this.#loadOrCreate("identity.json", () => this.#readIdentity(signing), async () => {
      const file: IdentityFile = { version: FILE_FORMAT_VERSION, ...(await generateIdentityJwk()), createdAt: new Date().toISOString() };
      return file;
    });
  }

  /**
   * Reads `name` with `read`, or creates it exclusively from `create()`;
   * if another process created it first, its content is the device's.
   */
  async #loadOrCreate<T>(name: string, read: () => Promise<T | undefined>, create: () => Promise<object>): Promise<T> {
    const existing = await read();
    if (existing) return existing;
    const path = join(this.root, name);
    await writeExclusive(path, new TextEncoder().encode(JSON.stringify(await create(), null, 2)));
    const winner = await read();
    if (!winner) throw new HearthError("STORAGE_FAILED", `${path} vanished while being created; retry`);
    return winner;
  }

  async #readIdentity(signing: SigningPair): Promise<DeviceIdentity | undefined> {
    const path = join(this.root, "identity.json");
    const text = await readIfExists(path);
    if (text === undefined) return undefined;
    try {
      const file = JSON.parse(text) as Partial<IdentityFile>;
      if (file.version !== FILE_FORMAT_VERSION || !file.publicKey || !file.privateKey) throw new Error("unknown format");
      return await identityFromJwk({ publicKey: file.publicKey, privateKey: file.privateKey }, signing);
    } catch (cause) {
      throw damagedIdentity(path, cause);
    }
  }

  async #readSigning(): Promise<SigningPair | undefined> {
    const path = join(this.root, "signing.json");
    const text = await readIfExists(path);
    if (text === undefined) return undefined;
    try {
      const file = JSON.parse(text) as Partial<SigningFile>;
      if (file.version !== FILE_FORMAT_VERSION || !file.publicKey || !file.privateKey) throw new Error("unknown format");
      return await signingFromJwk({ publicKey: file.publicKey, privateKey: file.privateKey });
    } catch (cause) {
      throw damagedIdentity(path, cause);
    }
  }

  #keyPath(fingerprint: Fingerprint): string {
    return join(this.keysDir, `${fingerprint}.json`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new HearthError("STORE_CLOSED", `keyring ${this.url} is closed; open it again to use it`);
  }
}

function damagedIdentity(path: string, cause: unknown): HearthError {
  return new HearthError(
    "INTEGRITY",
    `device identity ${path} is damaged; restore it from a backup (deleting it gives this device a new identity, and invites made for the old one stop working)`,
    { cause },
  );
}

function encodeKeyFile(file: KeyFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(file, null, 2));
}

/**
 * Writes `bytes` to `path` unless it exists. Returns false if it existed.
 * The content is complete and fsynced before the name appears.
 */
function writeExclusive(path: string, bytes: Uint8Array): Promise<boolean> {
  return io(`create ${path}`, () => writeFileAtomic(path, bytes, { ifExists: "keep" }));
}

/** Atomically replaces `path` with `bytes` (only used to repair a damaged file). */
async function writeReplacing(path: string, bytes: Uint8Array): Promise<void> {
  await io(`replace ${path}`, () => writeFileAtomic(path, bytes));
}

/** The text of a keyring file (a few hundred bytes), if it exists: read synchronously (see {@link openFileKeyring}). */
async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw storageFailed(`read ${path}`, err);
  }
}

/** Removes temp files a crashed writer left behind; young ones may belong to a live writer. */
function removeStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_TEMP_MS) unlinkSync(path);
    } catch {
      // gone meanwhile, or not ours to remove: left
    }
  }
}

async function io<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageFailed(what, err);
  }
}

function storageFailed(what: string, cause: unknown): HearthError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  return new HearthError(
    "STORAGE_FAILED",
    `keyring could not ${what}${code ? ` (${code})` : ""}; check that the directory exists, is yours and the disk is not full`,
    { cause },
  );
}
