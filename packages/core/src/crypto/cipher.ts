/**
 * The AES-256-GCM primitive under the envelope, as a swappable value.
 *
 * WebCrypto is the portable implementation and the default. In Node, a
 * WebCrypto call costs ~50 µs even for a 200-byte value (it is an async job
 * on the libuv pool), which would dominate a small `put`; Node's own
 * `createCipheriv` does the same AES-GCM synchronously in ~3 µs. The Node
 * platform therefore passes `nodeCipher` (in `cipher-node.ts`); both
 * produce byte-identical envelopes, so data moves freely between them.
 *
 * @module
 */
import type { DataKey } from "../keyring/types.js";
import { bufferSource } from "./encoding.js";

/** AES-256-GCM with a 128-bit tag appended to the ciphertext. */
export interface AeadCipher {
  /**
   * Encrypts; returns ciphertext followed by the tag, after `headroom`
   * unused bytes (default 0) where the caller writes its header, so the
   * envelope needs no second copy.
   */
  encrypt(key: DataKey, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom?: number): Uint8Array | Promise<Uint8Array>;
  /** Decrypts ciphertext+tag; throws (any error) if authentication fails. */
  decrypt(key: DataKey, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** The portable WebCrypto implementation. */
export const webCryptoCipher: AeadCipher = {
  async encrypt(key, iv, plaintext, aad, headroom = 0) {
    const sealed = await globalThis.crypto.subtle.encrypt(
      { name: "AES-GCM", iv: bufferSource(iv), additionalData: bufferSource(aad), tagLength: 128 },
      key.key,
      bufferSource(plaintext),
    );
    if (headroom === 0) return new Uint8Array(sealed);
    const out = new Uint8Array(headroom + sealed.byteLength);
    out.set(new Uint8Array(sealed), headroom);
    return out;
  },
  async decrypt(key, iv, sealed, aad) {
    const out = await globalThis.crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bufferSource(iv), additionalData: bufferSource(aad), tagLength: 128 },
      key.key,
      bufferSource(sealed),
    );
    return new Uint8Array(out);
  },
};
