/**
 * Change notification across server instances over PostgreSQL
 * LISTEN/NOTIFY: every instance keeps one dedicated connection listening on
 * the deployment's channel, and a publish is one `pg_notify` through the
 * pool. So a client watching through instance 2 hears of a write that
 * arrived at instance 1, with no broker beyond the database the backend
 * already needs.
 *
 * - **Local first.** A publish calls this instance's subscribers at once
 *   (a watcher here hears of a change before the writer's answer), then
 *   notifies the others; each instance skips its own notifications.
 * - **Payload limit.** NOTIFY payloads must stay under 8000 bytes, so a
 *   long list of changes goes out in several notifications, and a value
 *   that does not fit travels without its bytes (watchers GET it).
 * - **Lost connection.** The listener reconnects with exponential backoff.
 *   Notifications sent while it was away are gone, so after reconnecting
 *   it tells every subscriber that anything may have changed (`undefined`
 *   changes): watchers re-list, and nothing stays missed.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { HearthError } from "@hearth/core";
import type { ChangeListener, Notifier, ObjectChange } from "../types.js";
import { pgFailure } from "./schema.js";

/** How a {@link PgNotifier} connects and recovers. */
export interface PgNotifierOptions {
  /** For the dedicated listening connection. */
  readonly connectionString: string;
  /** Publishes go through the backend's pool. */
  readonly pool: pg.Pool;
  /** The channel (one per deployment schema). */
  readonly channel: string;
  /** First reconnect delay (ms, default 100), doubling up to `maxBackoffMs` (default 5000). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often the listening connection is checked with a query (ms, default 30 000). */
  readonly healthMs?: number;
  /** Told about connection trouble (for the server log). */
  readonly onError?: (message: string, err: unknown) => void;
}

/** A notification's JSON: origin instance, ledger, changes (`null`: anything may have changed). */
interface Payload {
  readonly o: string;
  readonly l: string;
  readonly c: readonly PayloadChange[] | null;
}

/** One change in a payload: name, `d: 1` for a delete, `v` the value put (base64). */
interface PayloadChange {
  readonly n: string;
  readonly d?: 1;
  readonly v?: string;
}

/** Below PostgreSQL's 8000-byte payload limit, with room to spare. */
const MAX_PAYLOAD_BYTES = 7_500;

/** See the module docs. */
export class PgNotifier implements Notifier {
  private readonly instance = randomBytes(8).toString("hex");
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  private attempts = 0;
  private closed = false;

  private constructor(private readonly options: PgNotifierOptions) {}

  /**
   * Opens the listening connection; rejects `STORAGE_FAILED` if the first
   * attempt fails (a server should not start deaf).
   */
  static async open(options: PgNotifierOptions): Promise<PgNotifier> {
    const notifier = new PgNotifier(options);
    await notifier.connect();
    notifier.healthTimer = setInterval(() => notifier.checkHealth(), options.healthMs ?? 30_000);
    notifier.healthTimer.unref();
    return notifier;
  }

  async publish(ledger: string, changes: readonly ObjectChange[] | undefined): Promise<void> {
    if (this.closed) throw new HearthError("STORE_CLOSED", "the notifier is closed");
    this.deliver(ledger, changes);
    const notifications = changes === undefined ? [JSON.stringify({ o: this.instance, l: ledger, c: null })] : payloads(this.instance, ledger, changes);
    for (const payload of notifications) {
      try {
        await this.options.pool.query("SELECT pg_notify($1, $2)", [this.options.channel, payload]);
      } catch (err) {
        throw pgFailure(`cannot notify other instances of a change in ledger ${ledger}`, err);
      }
    }
  }

  /**
   * Resolves at once: the channel is listened to for the whole life of the
   * notifier, so a change published after this is delivered — or, if the
   * connection is down right now, covered by the resync when it returns.
   */
  async subscribe(ledger: string, fn: ChangeListener): Promise<() => void> {
    if (this.closed) throw new HearthError("STORE_CLOSED", "the notifier is closed");
    let set = this.listeners.get(ledger);
    if (!set) this.listeners.set(ledger, (set = new Set()));
    const entry: ChangeListener = (changes) => fn(changes); // distinct per call, so one fn may subscribe twice
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.listeners.get(ledger) === set) this.listeners.delete(ledger);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    this.listeners.clear();
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** @internal The server process id of the listening connection (tests cut it to prove reconnection). */
  async listenerPid(): Promise<number | undefined> {
    const client = this.client;
    if (!client) return undefined;
    const result = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    return result.rows[0]?.pid;
  }

  private connect(): Promise<void> {
    const attempt = (async () => {
      const client = new pg.Client({ connectionString: this.options.connectionString, application_name: "hearth-notify", keepAlive: true });
      client.on("error", (err) => this.lost(client, err));
      client.on("end", () => this.lost(client, new Error("connection ended")));
      client.on("notification", (message) => this.received(message));
      try {
        await client.connect();
        await client.query(`LISTEN "${this.options.channel}"`);
      } catch (err) {
        client.removeAllListeners("end");
        await client.end().catch(() => undefined);
        throw pgFailure("cannot listen for change notifications", err);
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
    })();
    this.connecting = attempt;
    return attempt.finally(() => {
      if (this.connecting === attempt) this.connecting = undefined;
    });
  }

  /** The listening connection broke: drop it and reconnect (once per connection). */
  private lost(client: pg.Client, err: unknown): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners("end");
    client.on("error", () => undefined); // a dying socket may still report
    client.end().catch(() => undefined);
    this.options.onError?.("lost the PostgreSQL notification connection; reconnecting", err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const base = this.options.backoffMs ?? 100;
    const delay = Math.min(this.options.maxBackoffMs ?? 5_000, base * 2 ** this.attempts) * (0.75 + Math.random() / 2);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(
        () => {
          this.attempts = 0;
          // Whatever was published while deaf is gone: every watcher re-lists.
          for (const ledger of [...this.listeners.keys()]) this.deliver(ledger, undefined);
        },
        (err: unknown) => {
          this.options.onError?.("cannot reconnect to PostgreSQL for notifications; retrying", err);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }


  /** A half-open connection may never report an error: ask it something now and then. */
  private checkHealth(): void {
    const client = this.client;
    if (!client || this.closed) return;
    client.query("SELECT 1").catch((err: unknown) => this.lost(client, err));
  }

  private received(message: pg.Notification): void {
    if (message.channel !== this.options.channel || message.payload === undefined) return;
    let payload: Payload;
    try {
      payload = JSON.parse(message.payload) as Payload;
    } catch {
      return; // not ours
    }
    if (payload.o === this.instance || typeof payload.l !== "string") return;
    if (payload.c === null) return this.deliver(payload.l, undefined);
    if (!Array.isArray(payload.c)) return;
    const changes: ObjectChange[] = [];
    for (const c of payload.c) {
      if (typeof c?.n !== "string") continue;
      if (c.d === 1) changes.push({ name: c.n, op: "delete" });
      else if (typeof c.v === "string") changes.push({ name: c.n, op: "put", bytes: Buffer.from(c.v, "base64") });
      else changes.push({ name: c.n, op: "put" });
    }
    this.deliver(payload.l, changes);
  }

  private deliver(ledger: string, changes: readonly ObjectChange[] | undefined): void {
    for (const fn of [...(this.listeners.get(ledger) ?? [])]) {
      try {
        fn(changes);
      } catch {
        // One failing watcher must not keep the change from the others.
      }
    }
  }
}

/**
 * The notifications for `changes`: as few as fit under the payload limit.
 * A value that would not fit even alone is left out (the change still goes).
 */
export function payloads(instance: string, ledger: string, changes: readonly ObjectChange[]): string[] {
  const out: string[] = [];
  const overhead = Buffer.byteLength(JSON.stringify({ o: instance, l: ledger, c: [] }));
  let chunk: PayloadChange[] = [];
  let size = overhead;
  for (const change of changes) {
    let entry = payloadChange(change, true);
    let cost = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (overhead + cost > MAX_PAYLOAD_BYTES) {
      entry = payloadChange(change, false);
      cost = Buffer.byteLength(JSON.stringify(entry)) + 1;
    }
    if (chunk.length > 0 && size + cost > MAX_PAYLOAD_BYTES) {
      out.push(JSON.stringify({ o: instance, l: ledger, c: chunk }));
      chunk = [];
      size = overhead;
    }
    chunk.push(entry);
    size += cost;
  }
  if (chunk.length > 0 || out.length === 0) out.push(JSON.stringify({ o: instance, l: ledger, c: chunk }));
  return out;
}

function payloadChange(change: ObjectChange, withValue: boolean): PayloadChange {
  if (change.op === "delete") return { n: change.name, d: 1 };
  if (!withValue || change.bytes === undefined) return { n: change.name };
  return { n: change.name, v: Buffer.from(change.bytes.buffer, change.bytes.byteOffset, change.bytes.byteLength).toString("base64") };
}
