/**
 * The HTTP remote (`http(s)://host:port/<ledger>?token=…`): a client of the
 * Hearth sync server (`hearth serve`), speaking the v1 wire protocol of
 * `wire.ts`. Requests go over `fetch`, push arrives over one WebSocket per
 * watch; both are the platform's own (or given), so the same module runs in
 * browsers and in Node.
 *
 * - **Every request has a deadline** (`timeoutMs`, AbortController): a
 *   server that stops answering becomes `STORAGE_FAILED`, which the sync
 *   engine retries, never a hang.
 * - **Errors map to codes by what fixes them** (see `http-errors.ts`): bad
 *   or missing tokens are `UNAUTHORIZED` with the command that mints one;
 *   outages are `STORAGE_FAILED`.
 * - **Names are checked here too**, so a bad name fails fast with
 *   `INVALID_ARGUMENT` instead of a round trip, exactly as on other remotes.
 *
 * Browser-safe.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { errorForFailure, errorForStatus, readWireError, type RequestContext } from "./http-errors.js";
import { assertToken, parseHttpUrl, type HttpLocation } from "./http-url.js";
import { SocketWatch, type ReconnectOptions, type WebSocketConstructor } from "./http-watch.js";
import { assertRemoteEntries, assertRemoteName, assertRemotePrefix, type Remote, type RemoteChangeListener, type RemoteEntry } from "./types.js";
import { batchPath, encodeBatch, listPath, MAX_BATCH_ENTRIES, MAX_BODY_HEADER, objectPath, watchPath, WIRE_VERSION } from "./wire.js";

export type { WebSocketConstructor, WebSocketLike, ReconnectOptions } from "./http-watch.js";

/** Options of {@link openHttpRemote}. */
export interface HttpRemoteOptions {
  /** The bearer token; overrides `?token=` in the URL. */
  readonly token?: string;
  /**
   * The WebSocket constructor for `watch` (default: the global one). Node 20
   * has none; the Node platform passes the `ws` package's. Without any, the
   * remote declares `supports.watch: false` and the engine polls.
   */
  readonly WebSocket?: WebSocketConstructor;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** Deadline of each request, response body included (ms, default 30 000). */
  readonly timeoutMs?: number;
  /** Reconnect timing of watch sockets. */
  readonly reconnect?: ReconnectOptions;
}

/**
 * Opens a client of the ledger named by `url` on a sync server. Opening
 * sends nothing; the first request shows whether the server and the token
 * are good.
 *
 * @throws HearthError `INVALID_URL` for anything but `http(s)://host[:port][/base]/<ledger>[?token=…]`,
 *   `INVALID_ARGUMENT` for a token that cannot travel in a header
 * @example
 * ```ts
 * const remote = await openHttpRemote("http://127.0.0.1:8787/todos", { token: process.env.HEARTH_TOKEN });
 * await db.attach(remote);
 * // or simply: await db.attach("http://127.0.0.1:8787/todos?token=htk_…");
 * ```
 */
export async function openHttpRemote(url: string, options: HttpRemoteOptions = {}): Promise<Remote> {
  if (options === null || typeof options !== "object") throw new TypeError("openHttpRemote options must be an object");
  const location = parseHttpUrl(url);
  const token = options.token ?? location.token;
  if (token !== undefined) assertToken(token);
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new TypeError("timeoutMs must be a positive number of milliseconds");
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  return new HttpRemote(location, token, { fetch: doFetch, timeoutMs, WebSocket, reconnect: options.reconnect ?? {} });
}

interface Settings {
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly reconnect: ReconnectOptions;
}

class HttpRemote implements Remote {
  readonly url: string;
  readonly supports: { readonly watch: boolean; readonly persistent: true };
  readonly #location: HttpLocation;
  readonly #token: string | undefined;
  readonly #settings: Settings;
  readonly #watches = new Set<SocketWatch>();
  #closed = false;
  #maxObjectBytes: number | undefined;

  /** The largest body the server accepts, as it said in its last answer (`undefined` before the first). */
  get maxObjectBytes(): number | undefined {
    return this.#maxObjectBytes;
  }

  constructor(location: HttpLocation, token: string | undefined, settings: Settings) {
    this.url = location.url;
    this.#location = location;
    this.#token = token;
    this.#settings = settings;
    this.supports = { watch: settings.WebSocket !== undefined, persistent: true };
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    assertRemoteName(name);
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`value for remote name ${JSON.stringify(name)} must be a Uint8Array`);
    this.#assertOpen();
    // No copy of our own: #request calls fetch before its first await, and a spec-conformant
    // fetch copies a BufferSource body when the request is made (Fetch: "extract a body"), so
    // the caller may change its array as soon as this returns its promise.
    await this.#request("PUT", objectPath(this.#location.ledger, name), `put ${name}`, {
      body: bytes as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "application/octet-stream" },
    });
  }

  /** Several puts in one request (`POST …/batch`), stored in order by the server. */
  async putAll(entries: readonly RemoteEntry[]): Promise<void> {
    assertRemoteEntries(entries);
    if (entries.length > MAX_BATCH_ENTRIES) throw new HearthError("INVALID_ARGUMENT", `putAll takes at most ${MAX_BATCH_ENTRIES} entries, got ${entries.length}; split them`);
    this.#assertOpen();
    if (entries.length === 0) return;
    await this.#request("POST", batchPath(this.#location.ledger), `put ${entries.map(([n]) => n).join(", ")}`, {
      body: encodeBatch(entries), // a copy, as for put
      headers: { "content-type": "application/octet-stream" },
    });
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    assertRemoteName(name);
    this.#assertOpen();
    const path = objectPath(this.#location.ledger, name);
    return this.#request("GET", path, `get ${name}`, { absentIsUndefined: true }, async (response) => new Uint8Array(await response.arrayBuffer()));
  }

  async list(prefix: string): Promise<string[]> {
    assertRemotePrefix(prefix);
    this.#assertOpen();
    const what = `list ${JSON.stringify(prefix)}`;
    const path = `${listPath(this.#location.ledger)}?prefix=${encodeURIComponent(prefix)}`;
    const names = await this.#request("GET", path, what, {}, async (response) => ((await response.json()) as { names?: unknown }).names);
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
      throw new HearthError("STORAGE_FAILED", `sync server ${this.url} answered ${what} with a malformed body; is it a Hearth v${WIRE_VERSION} server?`);
    }
    return names as string[];
  }

  async delete(name: string): Promise<void> {
    assertRemoteName(name);
    this.#assertOpen();
    await this.#request("DELETE", objectPath(this.#location.ledger, name), `delete ${name}`, {});
  }

  watch(prefix: string, onChange: RemoteChangeListener): () => void {
    assertRemotePrefix(prefix);
    if (typeof onChange !== "function") throw new TypeError("watch listener must be a function");
    this.#assertOpen();
    const WebSocket = this.#settings.WebSocket;
    if (!WebSocket) throw new TypeError("this HTTP remote has no WebSocket constructor (supports.watch is false); pass options.WebSocket");
    const url = this.#location.base.replace(/^http/, "ws") + watchPath(this.#location.ledger);
    const watch = new SocketWatch(url, { v: 1, type: "hello", token: this.#token ?? "", prefix }, onChange, WebSocket, this.#settings.reconnect);
    this.#watches.add(watch);
    return () => {
      watch.stop();
      this.#watches.delete(watch);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const watch of this.#watches) watch.stop();
    this.#watches.clear();
  }

  /**
   * Sends one request with a deadline covering the answer's body too.
   * Success (2xx) resolves `read(response)`; with `absentIsUndefined`, a
   * 404 `NOT_FOUND` (no such object) resolves `undefined`; anything else
   * rejects with its mapped code.
   */
  async #request<T = undefined>(
    method: string,
    path: string,
    what: string,
    init: { body?: Uint8Array<ArrayBuffer>; headers?: Record<string, string>; absentIsUndefined?: boolean },
    read?: (response: Response) => Promise<T>,
  ): Promise<T | undefined> {
    const ctx: RequestContext = { url: this.url, ledger: this.#location.ledger, what };
    const { timeoutMs } = this.#settings;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      let response: Response;
      try {
        response = await this.#settings.fetch(this.#location.base + path, {
          method,
          headers: { ...init.headers, ...(this.#token !== undefined && { authorization: `Bearer ${this.#token}` }) },
          ...(init.body && { body: init.body }),
          signal: controller.signal,
        });
      } catch (err) {
        throw errorForFailure(err, timedOut, timeoutMs, ctx);
      }
      const limit = Number(response.headers.get(MAX_BODY_HEADER));
      if (Number.isSafeInteger(limit) && limit > 0) this.#maxObjectBytes = limit;
      try {
        if (response.ok) return read ? await read(response) : (await response.body?.cancel(), undefined);
        const wire = await readWireError(response);
        if (response.status === 404 && init.absentIsUndefined && wire?.code === "NOT_FOUND") return undefined;
        throw errorForStatus(response.status, wire, ctx);
      } catch (err) {
        if (err instanceof HearthError) throw err;
        throw errorForFailure(err, timedOut, timeoutMs, ctx);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new HearthError("STORE_CLOSED", `remote ${this.url} is closed; open it again to use it`);
  }
}
