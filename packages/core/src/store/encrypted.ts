/**
 * The encryption layer: a {@link ByteStore} that wraps any other and
 * encrypts every value with AES-256-GCM (see `crypto/envelope.ts`), so the
 * bytes at rest are ciphertext whatever the inner store is.
 *
 * Key names pass through unchanged: they are the ledger's own opaque names
 * (CIDs, counters), and keeping them lets the inner store sort and list.
 * Each value is sealed with its key name as associated data, so a value
 * copied or swapped to another name fails with `INTEGRITY` instead of being
 * read as something it is not.
 *
 * Which data key a store writes with is recorded in the inner store itself,
 * in one plaintext record ({@link KEY_RECORD_NAME}) holding only the key's
 * public fingerprint. That is what lets a reopened store find its key in the
 * keyring, and lets a store opened with the wrong keyring say precisely which
 * key it needs instead of failing on the first read. Each value's envelope
 * also names its key, so values written under an earlier key stay readable
 * after the record changes (rotation), as long as the keyring holds that key.
 *
 * @module
 */
import { sealNow, unseal, readEnvelopeFingerprint } from "../crypto/envelope.js";
import { webCryptoCipher, type AeadCipher } from "../crypto/cipher.js";
import { COMPRESS_MIN_BYTES, COMPRESS_MIN_BYTES_BACKGROUND, frameValue, unframeValue, type Compression } from "../crypto/compression.js";
import { isFingerprint } from "../crypto/fingerprint.js";
import { HearthError, isHearthError } from "../errors.js";
import type { DataKey, Fingerprint, Keyring } from "../keyring/types.js";
import { assertWriteBatch, assertWriteOptions } from "./memory.js";
import { assertStoreKey, type ByteStore, type WriteBatch, type WriteOptions } from "./types.js";

/**
 * The inner-store key of the plaintext record naming the store's data key.
 * Hidden from `list()`; reading or writing it through the wrapper is a
 * `TypeError`, so no caller can clobber it.
 */
export const KEY_RECORD_NAME = "~keyid";

const RECORD_VERSION = 1;

/** A {@link ByteStore} whose values are encrypted; also says which data key it writes with. */
export interface EncryptedStore extends ByteStore {
  /** Fingerprint of the data key new values are sealed with. */
  readonly keyFingerprint: Fingerprint;
  /** Winds the inner store down, if it can (see {@link ByteStore.windDown}). */
  windDown(): void;
}

/** Options for {@link openEncryptedStore}. */
export interface EncryptedStoreOptions {
  /**
   * If the inner store has no key record yet (a new store), create a data key
   * in the keyring and record it. Default `true`; pass `false` to open only
   * stores that already exist (`NOT_FOUND` otherwise).
   */
  readonly create?: boolean;
  /**
   * The AES-GCM implementation. Default: WebCrypto. The Node platform passes
   * its faster synchronous one; envelopes are identical either way.
   */
  readonly cipher?: AeadCipher;
  /**
   * Compress values before sealing (the Node platform passes zlib). Without
   * it nothing is compressed, but compressed values are still readable.
   */
  readonly compression?: Compression;
}

/**
 * Wraps `inner` so that every value is encrypted with a data key from
 * `keyring`. The wrapper owns `inner` (closing or destroying it closes or
 * destroys `inner`) but not `keyring`, which is usually shared.
 *
 * @throws HearthError `KEY_REQUIRED` if the store was created with a data key
 *   `keyring` does not hold; `NOT_FOUND` for a new store with `create: false`;
 *   `INTEGRITY` if the key record is damaged, or if `inner` holds values but
 *   no key record (it is not an encrypted store).
 * @example
 * ```ts
 * const store = await openEncryptedStore(await openMemoryStore("memory://x"), await openMemoryKeyring());
 * await store.write({ put: [["greeting", new TextEncoder().encode("hi")]] });
 * console.log(store.keyFingerprint);
 * ```
 */
export async function openEncryptedStore(inner: ByteStore, keyring: Keyring, options: EncryptedStoreOptions = {}): Promise<EncryptedStore> {
  const record = await inner.get(KEY_RECORD_NAME);
  if (record !== undefined) {
    const fingerprint = parseKeyRecord(record, inner.url);
    const dataKey = await keyring.getKey(fingerprint);
    if (!dataKey) throw missingKey(fingerprint, `store ${inner.url}`, keyring);
    return new EncryptedByteStore(inner, keyring, dataKey, options.cipher ?? webCryptoCipher, options.compression);
  }
  if (options.create === false) {
    throw new HearthError(
      "NOT_FOUND",
      `store ${inner.url} has no encryption key record, so it is not an existing encrypted store; open it with create: true to start one`,
    );
  }
  const existing = await inner.list("");
  if (existing.length > 0) {
    throw new HearthError(
      "INTEGRITY",
      `store ${inner.url} holds ${existing.length} values but no encryption key record (${KEY_RECORD_NAME}): it is not an encrypted Hearth store, or the record was deleted; restore the record from a backup rather than opening it as a new store`,
    );
  }
  const dataKey = await keyring.createKey(`store ${inner.url}`);
  const body = JSON.stringify({ version: RECORD_VERSION, fingerprint: dataKey.fingerprint });
  await inner.write(
    { put: [[KEY_RECORD_NAME, new TextEncoder().encode(body)]] },
    { durability: inner.supports.fsync ? "fsync" : "process" },
  );
  return new EncryptedByteStore(inner, keyring, dataKey, options.cipher ?? webCryptoCipher, options.compression);
}

class EncryptedByteStore implements EncryptedStore {
  readonly keyFingerprint: Fingerprint;
  /** Keys other than the store's own that values turned out to be sealed with (rotation). */
  readonly #otherKeys = new Map<Fingerprint, DataKey>();
  readonly #pendingWrites = new Set<Promise<void>>();
  #closed = false;

  constructor(
    private readonly inner: ByteStore,
    private readonly keyring: Keyring,
    private readonly dataKey: DataKey,
    private readonly cipher: AeadCipher,
    private readonly compression: Compression | undefined,
  ) {
    this.keyFingerprint = dataKey.fingerprint;
  }

  get url(): string {
    return this.inner.url;
  }

  get supports(): ByteStore["supports"] {
    return this.inner.supports;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertUsableKey(key);
    this.#assertOpen();
    const envelope = await this.inner.get(key);
    if (envelope === undefined) return undefined;
    const where = `value ${JSON.stringify(key)} in store ${this.url}`;
    try {
      const dataKey = await this.#keyFor(readEnvelopeFingerprint(envelope), where);
      return await unframeValue(await unseal(dataKey, envelope, aadFor(key), this.cipher), this.compression, where);
    } catch (err) {
      if (isHearthError(err, "INTEGRITY")) throw new HearthError("INTEGRITY", `${where}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    this.#assertOpen();
    const keys = await this.inner.list(prefix);
    return keys.filter((k) => k !== KEY_RECORD_NAME);
  }

  async write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    assertWriteBatch(batch);
    assertWriteOptions(options);
    for (const key of batch.del ?? []) assertUsableKey(key);
    for (const [key] of batch.put ?? []) assertUsableKey(key);
    this.#assertOpen();
    const sealed = this.#seal(batch, options?.background === true, options?.compress);
    // With a synchronous cipher the inner store has the write before this
    // returns, and its own close() waits for it.
    if (!(sealed instanceof Promise)) return this.inner.write(sealed, options);
    // Registered before the first await so that a close() issued right after
    // this call waits for it, as the ByteStore contract promises.
    const pending = sealed.then((b) => this.inner.write(b, options));
    this.#pendingWrites.add(pending);
    try {
      await pending;
    } finally {
      this.#pendingWrites.delete(pending);
    }
  }

  async maintain(): Promise<void> {
    this.#assertOpen();
    await this.inner.maintain?.();
  }

  windDown(): void {
    this.inner.windDown?.();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#pendingWrites);
    await this.inner.close();
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#pendingWrites);
    // The data key stays in the keyring: it may be shared with other stores.
    await this.inner.destroy();
  }

  /**
   * The batch with every value sealed; a promise only if the cipher is
   * asynchronous. A background write compresses smaller values too;
   * `compress` may exempt some keys.
   */
  #seal(batch: WriteBatch, background: boolean, compress: ((key: string) => boolean) | undefined): WriteBatch | Promise<WriteBatch> {
    const puts = batch.put ?? [];
    const minBytes = background ? COMPRESS_MIN_BYTES_BACKGROUND : COMPRESS_MIN_BYTES;
    const envelopes = puts.map(([key, value]) =>
      sealNow(this.dataKey, frameValue(value, compress === undefined || compress(key) ? this.compression : undefined, minBytes), aadFor(key), this.cipher),
    );
    const withPuts = (sealed: Uint8Array[]): WriteBatch => {
      const put = puts.map(([key], i) => [key, sealed[i]!] as const);
      return batch.del === undefined ? { put } : { del: batch.del, put };
    };
    return envelopes.every((e) => e instanceof Uint8Array) ? withPuts(envelopes as Uint8Array[]) : Promise.all(envelopes).then(withPuts);
  }

  async #keyFor(fingerprint: Fingerprint, where: string): Promise<DataKey> {
    if (fingerprint === this.dataKey.fingerprint) return this.dataKey;
    const known = this.#otherKeys.get(fingerprint);
    if (known) return known;
    // Misses are not cached: the key may be imported into the keyring later.
    const found = await this.keyring.getKey(fingerprint);
    if (!found) {
      // A header one byte away from this store's own key is not a foreign
      // key but damage (two random 128-bit fingerprints are that close with
      // probability ~2^-120): report it as such, not as a key to go find.
      if (differingBytes(fingerprint, this.dataKey.fingerprint) <= 1) {
        throw new HearthError(
          "INTEGRITY",
          `the key fingerprint in its header is damaged (${fingerprint}; this store's key is ${this.dataKey.fingerprint}); restore it from a replica or backup`,
        );
      }
      throw missingKey(fingerprint, where, this.keyring);
    }
    this.#otherKeys.set(fingerprint, found);
    return found;
  }

  #assertOpen(): void {
    if (this.#closed) throw new HearthError("STORE_CLOSED", `encrypted store ${this.url} is closed; open it again to use it`);
  }
}

/** How many bytes two hex fingerprints differ in. */
function differingBytes(a: string, b: string): number {
  let count = 0;
  for (let i = 0; i < a.length; i += 2) if (a.slice(i, i + 2) !== b.slice(i, i + 2)) count++;
  return count;
}

/** Encodes key names for {@link aadFor} (one encoder, not one per value). */
const keyNames = new TextEncoder();

/** Associated data binding a value to the name it is stored under: the name's bytes. */
function aadFor(key: string): Uint8Array {
  return keyNames.encode(key);
}

function assertUsableKey(key: unknown): asserts key is string {
  assertStoreKey(key);
  if (key === KEY_RECORD_NAME) {
    throw new TypeError(`${JSON.stringify(KEY_RECORD_NAME)} is reserved by the encryption layer for its key record`);
  }
}

function parseKeyRecord(bytes: Uint8Array, url: string): Fingerprint {
  try {
    const record = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as { version?: unknown; fingerprint?: unknown };
    if (record.version === RECORD_VERSION && isFingerprint(record.fingerprint)) return record.fingerprint;
  } catch (cause) {
    throw damagedRecord(url, cause);
  }
  throw damagedRecord(url);
}

function damagedRecord(url: string, cause?: unknown): HearthError {
  return new HearthError(
    "INTEGRITY",
    `store ${url} has a damaged encryption key record (${KEY_RECORD_NAME}); restore it from a backup or a replica`,
    { cause },
  );
}

function missingKey(fingerprint: Fingerprint, where: string, keyring: Keyring): HearthError {
  return new HearthError(
    "KEY_REQUIRED",
    `${where} is encrypted with data key ${fingerprint}, which keyring ${keyring.url} does not hold; ` +
      `open it with the keyring that created it, or import that key into this keyring (an invite or share code from a device that has it)`,
  );
}
