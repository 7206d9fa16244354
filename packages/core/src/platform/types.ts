/**
 * What differs between Node and browsers, behind one interface: which
 * stores and keyrings exist, and where ledgers live by default. Each
 * platform has its own file (`node.ts`, `browser.ts`) with the same shape,
 * chosen by the package's `exports` conditions rather than by runtime `if`s.
 *
 * @module
 */
import type { ByteStore, StoreOpenOptions } from "../store/types.js";
import type { Keyring } from "../keyring/types.js";
import type { Remote } from "../remote/types.js";
import type { AeadCipher } from "../crypto/cipher.js";
import type { Compression } from "../crypto/compression.js";
import type { Signer } from "../crypto/signing.js";
import type { ChunkSealer } from "../files/chunk-sealer.js";

/** See the module docs. */
export interface Platform {
  /** Store URL for `open(name)` without `store`. */
  defaultStoreUrl(name: string): string;
  /** Keyring URL when `open` gets no `keyring`, given the store URL in use. */
  defaultKeyringUrl(storeUrl: string): string;
  /**
   * Opens a store by URL for writing (`LOCKED` while another holder has it,
   * or, with `wait`, once the wait runs out); `INVALID_URL` for schemes
   * this platform lacks.
   */
  openStore(url: string, options?: StoreOpenOptions): Promise<ByteStore>;
  /** Opens a keyring by URL; `INVALID_URL` for schemes this platform lacks. */
  openKeyring(url: string): Promise<Keyring>;
  /** Opens a remote (sync point) by URL; `INVALID_URL` for schemes this platform lacks. */
  openRemote(url: string): Promise<Remote>;
  /** The AES-GCM implementation for the encryption layer (default WebCrypto). */
  readonly cipher?: AeadCipher;
  /** Compression before sealing, where the platform has a fast synchronous deflate. */
  readonly compression?: Compression;
  /** ECDSA signatures (default WebCrypto). */
  readonly signer?: Signer;
  /** Seals large files' chunks off the ledger's thread (default: in it, with {@link cipher}). */
  readonly chunkSealer?: ChunkSealer;
}
