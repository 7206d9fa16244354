/**
 * The device keyring: this device's identity key pair and the symmetric data
 * keys it holds, each named by its fingerprint.
 *
 * Implementations: memory (tests, ephemeral ledgers), file (Node: a directory
 * of owner-only files, safe against a concurrent second process) and
 * IndexedDB (browsers: non-extractable keys where possible).
 *
 * @module
 */

/**
 * A data key's name: lowercase hex of the first 16 bytes of SHA-256 over
 * the raw 32-byte AES key. Public: it names a key without revealing it.
 */
export type Fingerprint = string & { readonly __brand: "Fingerprint" };

/** A symmetric AES-256-GCM data key held by a keyring. */
export interface DataKey {
  readonly fingerprint: Fingerprint;
  /** WebCrypto key usable for `encrypt`/`decrypt` with AES-GCM. */
  readonly key: CryptoKey;
}

/** How a keyring holds a key it creates or imports. */
export interface KeyOptions {
  /**
   * True for a key that may later be wrapped for other devices
   * ({@link Keyring.wrapKey}); default false. Persistent keyrings remember
   * the flag across reopen.
   */
  readonly shareable?: boolean;
}

/** This device's long-lived identity: an ECDH P-256 pair and an ECDSA P-256 signing pair. */
export interface DeviceIdentity {
  /**
   * Printable public identity: base64url of the ECDH and the signing public
   * keys together (two uncompressed SEC1 points, 130 bytes). Safe to share;
   * what an admin invites.
   */
  readonly publicKey: string;
  /** Short printable id of `publicKey` (hex of its SHA-256, first 16 bytes). */
  readonly fingerprint: string;
  /** ECDH private key; non-extractable where the platform allows. */
  readonly privateKey: CryptoKey;
  /** The ECDH public key, a raw uncompressed point (65 bytes). */
  readonly agreementPublicKey: Uint8Array;
  /** ECDSA P-256 private key that signs what this device adds to a sync point; non-extractable. */
  readonly signingKey: CryptoKey;
  /** Its public key, a raw uncompressed point (65 bytes). */
  readonly signingPublicKey: Uint8Array;
}

/**
 * A keyring. All methods reject with `STORE_CLOSED` after {@link Keyring.close}.
 * Adding keys never loses keys added concurrently by another process or
 * another keyring object on the same storage.
 */
export interface Keyring {
  /** The URL this keyring was opened from. */
  readonly url: string;
  /** The device identity, created on first use and stable afterwards. */
  identity(): Promise<DeviceIdentity>;
  /** The data key with this fingerprint, or `undefined` if this keyring lacks it. */
  getKey(fingerprint: Fingerprint): Promise<DataKey | undefined>;
  /**
   * Generates, stores and returns a fresh random data key. Pass
   * `{ shareable: true }` for a key other devices must receive (a sync
   * point's key); a local store's key stays non-shareable, so nothing can
   * ever wrap it out of this device.
   */
  createKey(label?: string, options?: KeyOptions): Promise<DataKey>;
  /**
   * Stores a raw 32-byte key and returns it. Idempotent: importing a held
   * key keeps its record (and label). `shareable` only ever upgrades a held
   * key — whoever holds the raw bytes could share them anyway — and is
   * never taken away.
   */
  importKey(raw: Uint8Array, label?: string, options?: KeyOptions): Promise<DataKey>;
  /**
   * AES-GCM-encrypts the raw bytes of a *shareable* key under `wrappingKey`
   * (a key-encryption key derived by `crypto/wrap.ts`), binding them to
   * `additionalData`. The output is the GCM ciphertext and 16-byte tag of
   * the 32 raw bytes (48 bytes), identical on every keyring. This is the
   * only way raw key bytes leave a keyring, and only ever encrypted.
   *
   * `wrappingKey` must be an AES-GCM `CryptoKey` with the `wrapKey` usage;
   * `iv` is 12 bytes and must never be reused with the same `wrappingKey`.
   *
   * @throws HearthError `KEY_REQUIRED` if this keyring lacks the key,
   *   `INVALID_ARGUMENT` if the key is not shareable; `TypeError` for
   *   malformed arguments.
   */
  wrapKey(fingerprint: Fingerprint, wrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array>;
  /**
   * Decrypts what {@link Keyring.wrapKey} produced and stores the key as
   * shareable (idempotent if already held; a held non-shareable key becomes
   * shareable). `unwrappingKey` must be an AES-GCM `CryptoKey` with the
   * `unwrapKey` usage.
   *
   * @throws HearthError `INTEGRITY` if `wrapped` fails to authenticate under
   *   this key, IV and additional data, or does not hold a 32-byte key.
   */
  unwrapKey(wrapped: Uint8Array, unwrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array, label?: string): Promise<DataKey>;
  /** Fingerprints of every data key held. */
  listKeys(): Promise<Fingerprint[]>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}
