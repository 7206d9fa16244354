/**
 * Node's AES-256-GCM for the envelope (see `cipher.ts` for why): the same
 * algorithm and bytes as WebCrypto, synchronously. Node-only.
 *
 * @module
 */
import { KeyObject, createCipheriv, createDecipheriv } from "node:crypto";
import type { DataKey } from "../keyring/types.js";
import type { AeadCipher } from "./cipher.js";

const TAG_BYTES = 16;
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

// KeyObject.from works on non-extractable CryptoKeys too: the key never
// leaves the process, it only changes API.
function keyObject(key: DataKey): KeyObject {
  let object = keyObjects.get(key.key);
  if (!object) {
    object = KeyObject.from(key.key);
    keyObjects.set(key.key, object);
  }
  return object;
}

/** Node's synchronous AES-256-GCM. */
export const nodeCipher: AeadCipher = {
  encrypt(key, iv, plaintext, aad, headroom = 0) {
    const cipher = createCipheriv("aes-256-gcm", keyObject(key), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(headroom + head.length + tail.length + TAG_BYTES);
    out.set(head, headroom);
    out.set(tail, headroom + head.length);
    out.set(tag, headroom + head.length + tail.length);
    return out;
  },
  decrypt(key, iv, sealed, aad) {
    if (sealed.length < TAG_BYTES) throw new Error("ciphertext shorter than its tag");
    const decipher = createDecipheriv("aes-256-gcm", keyObject(key), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const head = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  },
};
