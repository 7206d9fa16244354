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

/** This device's long-lived identity (ECDH P-256). */
export interface DeviceIdentity {
  /** Printable public key (base64url of the uncompressed SEC1 point). Safe to share. */
  readonly publicKey: string;
  /** Short printable id of the public key (hex of SHA-256, first 16 bytes). */
  readonly fingerprint: string;
  /** ECDH private key; non-extractable where the platform allows. */
  readonly privateKey: CryptoKey;
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
  /** Generates, stores and returns a fresh random data key. */
  createKey(label?: string): Promise<DataKey>;
  /** Stores a raw 32-byte key (e.g. received by invite) and returns it. Idempotent. */
  importKey(raw: Uint8Array, label?: string): Promise<DataKey>;
  /** Fingerprints of every data key held. */
  listKeys(): Promise<Fingerprint[]>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}
