/**
 * Data keys: random 32-byte AES-256-GCM keys, named by their fingerprint.
 * Keyrings keep the raw bytes (they must persist and, later, wrap them for
 * other devices); everything else handles only the {@link DataKey}, whose
 * `CryptoKey` is non-extractable.
 *
 * @module
 */
import type { DataKey } from "../keyring/types.js";
import { bufferSource } from "./encoding.js";
import { fingerprintOf } from "./fingerprint.js";

/** Length in bytes of a raw AES-256 data key. */
export const DATA_KEY_BYTES = 32;

/** Fresh random key material from the platform CSPRNG. */
export function generateRawDataKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(DATA_KEY_BYTES));
}

/** Throws `TypeError` unless `raw` is exactly {@link DATA_KEY_BYTES} bytes. */
export function assertRawDataKey(raw: unknown): asserts raw is Uint8Array {
  if (!(raw instanceof Uint8Array) || raw.length !== DATA_KEY_BYTES) {
    const got = raw instanceof Uint8Array ? `${raw.length} bytes` : typeof raw;
    throw new TypeError(`a data key is ${DATA_KEY_BYTES} raw bytes, got ${got}`);
  }
}

/**
 * Turns raw key bytes into a usable {@link DataKey}. The `CryptoKey` is
 * non-extractable so that code holding only the `DataKey` cannot leak it.
 */
export async function importDataKey(raw: Uint8Array): Promise<DataKey> {
  assertRawDataKey(raw);
  const [fingerprint, key] = await Promise.all([
    fingerprintOf(raw),
    globalThis.crypto.subtle.importKey("raw", bufferSource(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]),
  ]);
  return { fingerprint, key };
}

/** A random data key together with its raw bytes, for keyrings to persist. */
export async function generateDataKey(): Promise<{ raw: Uint8Array; dataKey: DataKey }> {
  const raw = generateRawDataKey();
  return { raw, dataKey: await importDataKey(raw) };
}
