/**
 * One watch of the HTTP remote: a WebSocket to the server's watch endpoint
 * that calls the listener on every `change` (with the changes it names and
 * the values the server inlined), and that never gives up. When
 * the socket drops (server restart, network change) it reconnects with
 * capped exponential backoff and jitter (so a restarted server is not hit
 * by every client at once), and after every `ready` — the first and each
 * reconnect — it calls the listener once: changes made while the socket
 * was down were never pushed, and that one call makes the engine look.
 *
 * No polling while the socket is up: the server's `change` messages are the
 * signal. Dead peers are noticed by the server (WebSocket ping/pong); a
 * client whose network silently vanished is covered by the sync engine's
 * slow safety poll.
 *
 * Browser-safe: uses whatever WebSocket constructor it is given.
 *
 * @module
 */
import { fromBase64Url } from "../crypto/encoding.js";
import type { RemoteChange, RemoteChangeListener } from "./types.js";
import type { WatchClientMessage, WatchServerMessage, WireChange } from "./wire.js";

/**
 * The part of the WebSocket API the watch uses: the browser's `WebSocket`
 * and the `ws` package's both fit. Handlers take `never` so either's event
 * types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (global `WebSocket` in browsers, `ws` in Node). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Reconnect timing of watch sockets. */
export interface ReconnectOptions {
  /** First delay after a drop (ms, default 250). */
  readonly initialMs?: number;
  /** Longest delay between attempts (ms, default 10 000). */
  readonly maxMs?: number;
  /** A socket not `ready` this long after it was opened is dropped and retried (ms, default 15 000). */
  readonly readyTimeoutMs?: number;
}

const OPEN = 1;

/** See the module docs. Starts connecting at once. */
export class SocketWatch {
  readonly #url: string;
  readonly #hello: string;
  readonly #onChange: RemoteChangeListener;
  readonly #WebSocket: WebSocketConstructor;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #readyTimeoutMs: number;
  #socket: WebSocketLike | undefined;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #readyTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /**
   * @param url - the `ws(s)://…/v1/ledgers/L/watch` endpoint
   * @param hello - the first message (carries the token: browsers cannot set headers on a WebSocket)
   */
  constructor(url: string, hello: WatchClientMessage, onChange: RemoteChangeListener, WebSocket: WebSocketConstructor, reconnect: ReconnectOptions = {}) {
    this.#url = url;
    this.#hello = JSON.stringify(hello);
    this.#onChange = onChange;
    this.#WebSocket = WebSocket;
    this.#initialMs = reconnect.initialMs ?? 250;
    this.#maxMs = reconnect.maxMs ?? 10_000;
    this.#readyTimeoutMs = reconnect.readyTimeoutMs ?? 15_000;
    this.#connect();
  }

  /** Stops for good: closes the socket, cancels any reconnect, and never calls the listener again. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#drop();
  }

  #connect(): void {
    if (this.#stopped) return;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    this.#readyTimer = setTimeout(() => this.#lost(socket), this.#readyTimeoutMs);
    unref(this.#readyTimer);
    socket.onopen = () => {
      if (this.#socket === socket) socket.send(this.#hello);
    };
    socket.onmessage = (event: { data?: unknown }) => {
      if (this.#socket !== socket || typeof event.data !== "string") return;
      let message: WatchServerMessage;
      try {
        message = JSON.parse(event.data) as WatchServerMessage;
      } catch {
        return;
      }
      if (message.type === "ready") {
        clearTimeout(this.#readyTimer);
        this.#attempt = 0;
        this.#notify(); // whatever changed while we were away
      } else if (message.type === "change") {
        this.#notify(changesOf(message.changes));
      }
      // "error" is followed by the server closing the socket: the reconnect
      // backoff paces retries; the engine's own requests report the cause.
    };
    socket.onclose = () => this.#lost(socket);
    socket.onerror = () => this.#lost(socket);
  }

  /** `socket` failed or closed: if it is still the current one, drop it and retry later. */
  #lost(socket: WebSocketLike): void {
    if (this.#socket !== socket) return;
    this.#drop();
    this.#scheduleReconnect();
  }

  #drop(): void {
    clearTimeout(this.#readyTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    // Closing a socket still connecting throws in some implementations; a
    // no-op handler keeps a late error event from surfacing as uncaught.
    socket.onerror = () => undefined;
    try {
      if (socket.readyState === OPEN) socket.close(1000);
      else socket.close();
    } catch {
      // Already closing or never opened.
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#retryTimer !== undefined) return;
    const delay = Math.min(this.#maxMs, this.#initialMs * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, delay);
    unref(this.#retryTimer);
  }

  #notify(changes?: readonly RemoteChange[]): void {
    if (this.#stopped) return;
    try {
      this.#onChange(changes);
    } catch {
      // A throwing listener must not take the watch down with it.
    }
  }
}

/**
 * The changes of a `change` message, or undefined (the listener lists) when
 * the message names none or any part is malformed: a hint that cannot be
 * trusted to be complete is no hint.
 */
function changesOf(wire: readonly WireChange[] | undefined): RemoteChange[] | undefined {
  if (!Array.isArray(wire)) return undefined;
  const changes: RemoteChange[] = [];
  for (const change of wire as readonly Partial<WireChange>[]) {
    if (typeof change?.name !== "string" || (change.op !== "put" && change.op !== "delete")) return undefined;
    if (change.op === "put" && typeof change.value === "string") {
      try {
        changes.push({ name: change.name, op: "put", bytes: fromBase64Url(change.value) });
      } catch {
        return undefined;
      }
    } else {
      changes.push({ name: change.name, op: change.op });
    }
  }
  return changes;
}

/** Lets Node exit while only a reconnect timer is pending (browsers have no unref). */
function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}
