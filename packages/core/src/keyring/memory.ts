/**
 * The memory keyring: for tests and ephemeral ledgers. Keyrings opened with
 * the same `memory://` URL in one process share their identity and keys
 * (like memory stores), so two ledgers in one process can share a key with
 * no ceremony; nothing survives the process.
 *
 * @module
 */
import { generateDataKey, importDataKey } from "../crypto/data-key.js";
import { assertFingerprint } from "../crypto/fingerprint.js";
import { generateIdentity } from "../crypto/identity.js";
import { HearthError } from "../errors.js";
import type { DataKey, DeviceIdentity, Fingerprint, KeyOptions, Keyring } from "./types.js";
import {
  assertLabel, assertWrapArguments, assertWrapped, keyMissing, notShareable, shareableOption, unwrapRawKey, wrapRawKey,
} from "./wrapping.js";

/** What one named memory keyring holds, shared by every object opened on its URL. */
interface MemoryKeyringState {
  readonly keys: Map<Fingerprint, DataKey>;
  /** Raw bytes of the shareable keys, the only ones that may be wrapped; local keys keep none. */
  readonly shareable: Map<Fingerprint, Uint8Array>;
  identity?: Promise<DeviceIdentity>;
}

// Kept on globalThis under a registered symbol so that two copies of this
// module (e.g. one bundled, one not) still share one registry per process.
const REGISTRY_SYMBOL = Symbol.for("@hearth/core/memory-keyrings");
const registry: Map<string, MemoryKeyringState> = ((globalThis as Record<symbol, unknown>)[REGISTRY_SYMBOL] ??= new Map()) as Map<
  string,
  MemoryKeyringState
>;

const SCHEME = "memory://";

/**
 * Opens (creating on first use) the memory keyring named by `url`.
 * Without a URL, a fresh keyring no one else shares.
 *
 * @throws HearthError `INVALID_URL` unless `url` starts with `memory://`.
 * @example
 * ```ts
 * const keyring = await openMemoryKeyring("memory://tests");
 * const key = await keyring.createKey("notes");
 * ```
 */
export async function openMemoryKeyring(url: string = `${SCHEME}keyring-${globalThis.crypto.randomUUID()}`): Promise<Keyring> {
  if (typeof url !== "string") throw new TypeError(`keyring URL must be a string, got ${typeof url}`);
  if (!url.startsWith(SCHEME) || url.length === SCHEME.length) {
    throw new HearthError("INVALID_URL", `memory keyring URL must look like "memory://<name>", got ${JSON.stringify(url)}`);
  }
  let state = registry.get(url);
  if (!state) {
    state = { keys: new Map(), shareable: new Map() };
    registry.set(url, state);
  }
  return new MemoryKeyring(url, state);
}

class MemoryKeyring implements Keyring {
  #closed = false;

  constructor(
    readonly url: string,
    private readonly state: MemoryKeyringState,
  ) {}

  async identity(): Promise<DeviceIdentity> {
    this.#assertOpen();
    // One promise per URL: concurrent first calls must not mint two identities.
    this.state.identity ??= generateIdentity().catch((err: unknown) => {
      this.state.identity = undefined;
      throw err;
    });
    return this.state.identity;
  }

  async getKey(fingerprint: Fingerprint): Promise<DataKey | undefined> {
    this.#assertOpen();
    assertFingerprint(fingerprint);
    return this.state.keys.get(fingerprint);
  }

  async createKey(label?: string, options?: KeyOptions): Promise<DataKey> {
    this.#assertOpen();
    assertLabel(label);
    const shareable = shareableOption(options);
    const { raw, dataKey } = await generateDataKey();
    this.#hold(dataKey, shareable ? raw : undefined);
    return dataKey;
  }

  async importKey(raw: Uint8Array, label?: string, options?: KeyOptions): Promise<DataKey> {
    this.#assertOpen();
    assertLabel(label);
    const shareable = shareableOption(options);
    const dataKey = await importDataKey(raw);
    return this.#hold(dataKey, shareable ? raw.slice() : undefined);
  }

  async wrapKey(fingerprint: Fingerprint, wrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen();
    assertFingerprint(fingerprint);
    assertWrapArguments(wrappingKey, iv, additionalData, "wrapKey");
    if (!this.state.keys.has(fingerprint)) throw keyMissing(fingerprint, this.url);
    const raw = this.state.shareable.get(fingerprint);
    if (!raw) throw notShareable(fingerprint, this.url);
    return wrapRawKey(raw, wrappingKey, iv, additionalData);
  }

  async unwrapKey(wrapped: Uint8Array, unwrappingKey: CryptoKey, iv: Uint8Array, additionalData: Uint8Array, label?: string): Promise<DataKey> {
    this.#assertOpen();
    assertWrapped(wrapped);
    assertWrapArguments(unwrappingKey, iv, additionalData, "unwrapKey");
    assertLabel(label);
    const raw = await unwrapRawKey(wrapped, unwrappingKey, iv, additionalData);
    this.#assertOpen();
    return this.#hold(await importDataKey(raw), raw);
  }

  async listKeys(): Promise<Fingerprint[]> {
    this.#assertOpen();
    return [...this.state.keys.keys()].sort();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Keeps the first object per key; `shareableRaw` (if given) marks it shareable, never the reverse. */
  #hold(dataKey: DataKey, shareableRaw: Uint8Array | undefined): DataKey {
    const held = this.state.keys.get(dataKey.fingerprint) ?? dataKey;
    this.state.keys.set(dataKey.fingerprint, held);
    if (shareableRaw && !this.state.shareable.has(dataKey.fingerprint)) this.state.shareable.set(dataKey.fingerprint, shareableRaw);
    return held;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new HearthError("STORE_CLOSED", `keyring ${this.url} is closed; open it again to use it`);
    }
  }
}
