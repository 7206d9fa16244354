/**
 * The check the server can make without a key: a value stored under
 * `bundle/<cid>` or `head/<cid>` is named by the hash of its own bytes
 * (the sync engine's `contentName`: CIDv1, raw codec, SHA-256, base32), so
 * a body that does not hash to its name is corrupt or forged and is refused
 * before it is stored.
 *
 * Only a last segment that *is* a base32 CIDv1 (`ba[e-h]…`, which is how a
 * CIDv1's first byte encodes) is checked: the remote contract lets clients
 * store any valid name, and a non-CID name under `bundle/` is ignored by
 * every reader anyway. The CID is computed here with `node:crypto` rather
 * than a CID library; the encoding is fixed by the protocol (test fixtures
 * pin it to the engine's).
 *
 * @module
 */
import { webcrypto } from "node:crypto";
import { WireFailure } from "./failure.js";

const CHECKED = /^(?:bundle|head)\/(ba[e-h][a-z2-7]*)$/;
/** CIDv1 (0x01), raw codec (0x55), sha2-256 multihash (0x12, 32 bytes). */
const RAW_SHA256_CID_PREFIX = [0x01, 0x55, 0x12, 0x20];
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * Throws unless `body` may be stored under `name`.
 * @throws WireFailure `INTEGRITY` when `name` ends in a CID that `body` does not hash to
 */
export async function checkIntegrity(name: string, body: Uint8Array): Promise<void> {
  const cid = CHECKED.exec(name)?.[1];
  if (cid === undefined) return;
  const actual = await rawCid(body);
  if (actual !== cid) {
    throw new WireFailure("INTEGRITY", `the body of ${name} hashes to ${actual}, not to the CID in its name; it was not stored`);
  }
}

/** The base32 CIDv1 (raw codec, SHA-256) naming `bytes`, as the sync engine writes it. */
export async function rawCid(bytes: Uint8Array): Promise<string> {
  // WebCrypto hashes off the main thread, so a large body does not stall other requests.
  const digest = new Uint8Array(await webcrypto.subtle.digest("SHA-256", bytes));
  return `b${base32(Uint8Array.from([...RAW_SHA256_CID_PREFIX, ...digest]))}`;
}

/** RFC 4648 base32, lower case, no padding (multibase `b`). */
function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}
