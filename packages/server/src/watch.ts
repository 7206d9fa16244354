/**
 * The WebSocket watch endpoint (`/v1/ledgers/<ledger>/watch`). A client
 * sends one `hello` (token + prefix; browsers cannot put headers on a
 * WebSocket); the server authorizes it like a read, subscribes to the
 * backend's notifier, and only then answers `ready`, so no change after
 * `ready` is missed. Changes of names under the prefix — made through any
 * server instance — are pushed as `change` messages, coalesced per tick,
 * naming each change and carrying the value of small puts; after the
 * notifier lost track (see {@link ChangeListener}) a `change` without
 * `changes` tells the client to list.
 *
 * Keepalive: the server pings every `pingMs`; a socket that did not answer
 * the previous ping is terminated (a vanished client must not hold a
 * subscription forever). At each ping the token is checked again, so a
 * revoked or expired token loses its watch too.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { assertRemotePrefix } from "@hearth/core";
import type { WatchClientMessage, WatchServerMessage, WireChange, WireError } from "@hearth/core/wire";
import type { Backend, ChangeListener, ObjectChange } from "./backend/types.js";
import { authorize } from "./http/auth.js";
import { WireFailure } from "./http/failure.js";
import { parseRoute, pathOf } from "./http/route.js";
import type { Logger } from "./log.js";

/** Timing of watch sockets. */
export interface WatchOptions {
  /** Interval of keepalive pings (ms). */
  readonly pingMs: number;
  /** How long a new socket may take to send its hello (ms). */
  readonly helloTimeoutMs: number;
}

/** Close codes: 1008 policy violation (refused hello), 1001 going away (shutdown). */
const POLICY = 1008;
const GOING_AWAY = 1001;

/** The watch endpoint of one server: accepts upgrades, tracks sessions, closes them on shutdown. */
export class WatchHub {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  readonly #sessions = new Set<WebSocket>();

  constructor(
    private readonly backend: Backend,
    private readonly logger: Logger,
    private readonly options: WatchOptions,
  ) {}

  /** Handles an HTTP upgrade: the watch route becomes a session; anything else is refused with a plain HTTP answer. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let ledger: string;
    try {
      const route = parseRoute(req.url ?? "/");
      if (route.kind !== "watch") throw new WireFailure("NOT_FOUND", "only /v1/ledgers/<ledger>/watch takes a WebSocket upgrade");
      ledger = route.ledger;
    } catch (err) {
      const failure = err instanceof WireFailure ? err : new WireFailure("BAD_REQUEST", String(err));
      const body = JSON.stringify(failure.toWire());
      socket.end(`HTTP/1.1 ${failure.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      this.logger({ level: "info", msg: "watch", path: pathOf(req.url ?? "/"), status: failure.status, code: failure.code });
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#session(ws, ledger, pathOf(req.url ?? "/")));
  }

  /** Closes every session with 1001 (clients reconnect elsewhere or later). */
  close(): void {
    for (const ws of this.#sessions) ws.close(GOING_AWAY, "server shutting down");
    // Sockets that do not finish the closing handshake promptly are cut.
    const timer = setTimeout(() => {
      for (const ws of this.#sessions) ws.terminate();
    }, 1_000);
    timer.unref();
    this.#wss.close();
  }

  #session(ws: WebSocket, ledger: string, path: string): void {
    this.#sessions.add(ws);
    const started = performance.now();
    let token: string | undefined;
    let unsubscribe: (() => void) | undefined;
    let alive = true;
    let pending: WireChange[] = [];
    let resync = false;
    let flushQueued = false;
    let outcome = "closed";

    const send = (message: WatchServerMessage): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const refuse = (error: WireError["error"]): void => {
      outcome = error.code;
      send({ v: 1, type: "error", error });
      ws.close(POLICY, error.code);
    };
    const flush = (): void => {
      flushQueued = false;
      const changes = pending;
      const names = [...new Set(changes.map((c) => c.name))];
      pending = [];
      if (resync) send({ v: 1, type: "change", names });
      else if (changes.length > 0) send({ v: 1, type: "change", names, changes });
      resync = false;
    };
    const onChange = (prefix: string): ChangeListener => (changes) => {
      if (changes === undefined) resync = true;
      else for (const change of changes) if (change.name.startsWith(prefix)) pending.push(toWire(change));
      if ((resync || pending.length > 0) && !flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    };

    const helloTimer = setTimeout(() => refuse({ code: "BAD_REQUEST", message: "send a hello message first" }), this.options.helloTimeoutMs);
    const pingTimer = setInterval(() => {
      if (!alive) {
        outcome = "no pong";
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
      if (token !== undefined) {
        authorize(this.backend.tokens, token, ledger, "read").catch((err: unknown) => {
          if (err instanceof WireFailure) refuse(err.toWire().error);
        });
      }
    }, this.options.pingMs);
    ws.on("pong", () => (alive = true));

    ws.on("message", (data, isBinary) => {
      if (token !== undefined || unsubscribe) return refuse({ code: "BAD_REQUEST", message: "only one hello is expected on a watch socket" });
      clearTimeout(helloTimer);
      const hello = parseHello(isBinary ? undefined : data.toString());
      if (typeof hello === "string") return refuse({ code: "BAD_REQUEST", message: hello });
      token = hello.token;
      authorize(this.backend.tokens, hello.token, ledger, "read")
        .then(() => this.backend.notifier.subscribe(ledger, onChange(hello.prefix)))
        .then(
          (stop) => {
            if (ws.readyState !== ws.OPEN) return stop();
            unsubscribe = stop;
            outcome = "ok";
            send({ v: 1, type: "ready" });
          },
          (err: unknown) => {
            if (err instanceof WireFailure) return refuse(err.toWire().error);
            this.logger({ level: "error", msg: "watch subscribe failed", ledger, error: String(err) });
            refuse({ code: "INTERNAL", message: "the server could not subscribe to changes; retry later" });
          },
        );
    });
    ws.on("error", () => undefined); // followed by close
    ws.on("close", () => {
      clearTimeout(helloTimer);
      clearInterval(pingTimer);
      unsubscribe?.();
      this.#sessions.delete(ws);
      this.logger({ level: "info", msg: "watch", path, status: 101, outcome, ms: Math.round(performance.now() - started) });
    });
  }
}

/** A change as sent on the socket: small values inlined as base64url. */
function toWire(change: ObjectChange): WireChange {
  return change.bytes === undefined
    ? { name: change.name, op: change.op }
    : { name: change.name, op: change.op, value: Buffer.from(change.bytes.buffer, change.bytes.byteOffset, change.bytes.byteLength).toString("base64url") };
}

/** The hello of a watch client, or what is wrong with it. */
function parseHello(text: string | undefined): WatchClientMessage | string {
  if (text === undefined) return "the hello must be a JSON text message";
  let message: Partial<WatchClientMessage>;
  try {
    message = JSON.parse(text) as Partial<WatchClientMessage>;
  } catch {
    return "the hello is not JSON";
  }
  if (message === null || typeof message !== "object" || message.v !== 1 || message.type !== "hello") return 'the first message must be { "v": 1, "type": "hello", "token", "prefix" }';
  if (typeof message.token !== "string") return "the hello has no token";
  try {
    assertRemotePrefix(message.prefix);
  } catch (err) {
    return (err as Error).message;
  }
  return message as WatchClientMessage;
}
