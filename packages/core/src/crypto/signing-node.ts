/**
 * Node's ECDSA P-256 signatures (see `signing.ts` for why): the same
 * algorithm and bytes as WebCrypto (P1363 form), synchronously, without the
 * thread-pool hop. Node-only.
 *
 * @module
 */
import { createPublicKey, KeyObject, sign, verify } from "node:crypto";
import { SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES, type Signer } from "./signing.js";

const privateKeys = new WeakMap<CryptoKey, KeyObject>();
const publicKeys = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE = 256;

// KeyObject.from works on non-extractable CryptoKeys too: the key never leaves the process.
function privateKeyObject(key: CryptoKey): KeyObject {
  let object = privateKeys.get(key);
  if (!object) privateKeys.set(key, (object = KeyObject.from(key)));
  return object;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString("base64");
  let object = publicKeys.get(id);
  if (!object) {
    const jwk = { kty: "EC", crv: "P-256", x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33, 65)) };
    object = createPublicKey({ key: jwk, format: "jwk" });
    publicKeys.set(id, object);
    if (publicKeys.size > PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value as string);
  }
  return object;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64url");
}

/** Node's synchronous ECDSA P-256 signer. */
export const nodeSigner: Signer = {
  async sign(privateKey, data) {
    return new Uint8Array(sign("sha256", data, { key: privateKeyObject(privateKey), dsaEncoding: "ieee-p1363" }));
  },
  async verify(publicKey, signature, data) {
    if (publicKey.length !== SIGNING_PUBLIC_KEY_BYTES || publicKey[0] !== 4 || signature.length !== SIGNATURE_BYTES) return false;
    try {
      return verify("sha256", data, { key: publicKeyObject(publicKey), dsaEncoding: "ieee-p1363" }, signature);
    } catch {
      return false;
    }
  },
};
