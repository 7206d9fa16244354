/**
 * A tab that does not own a ledger uses it through the tab that does: its
 * `open()` returns a `Ledger` whose calls go to the owner over the
 * channel (`./protocol.ts`), whose subscriptions hear every commit of any
 * tab, and whose sync points are the owner's (one connection per origin).
 *
 * Handing over: every follower also waits for the store's lock. When the
 * owner goes (its tab closes or freezes and is discarded, or it closes the
 * ledger), one follower gets the lock, opens the store and serves it; the
 * others hear the new owner and send it again every call the old one left
 * unanswered (a write is acknowledged only once the owner's `put`
 * resolved, so nothing acknowledged is lost; a write sent again gets the
 * `_id` the follower gave it before sending, so it is not doubled under a
 * second id), and ask it to attach their sync points.
 *
 * What stays the owner's: files are read through it (`file()`, `stream()`),
 * map functions are sent as source (so they must not close over
 * variables), and `destroy()` is `LOCKED` here (destroy from the owner).
 *
 * @module
 */
import { HearthError } from "../errors.js";
import { newDocId } from "../ids.js";
import { Ledger } from "../ledger/ledger.js";
import type { Doc, Subscriber } from "../ledger/types.js";
import { Attachment, type AttachOptions } from "../sync/attachment.js";
import { Emitter, type AttachmentEvents, type SyncStatus } from "../sync/status.js";
import { ATTACHMENT_CALLS, channelName, LEDGER_CALLS, rehydrate, type CallMessage, type TabMessage } from "./protocol.js";


interface Pending {
  readonly message: CallMessage;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** See the module docs. */
export class TabFollower {
  /** This tab's id on the channel. */
  readonly tab = newDocId();
  readonly #name: string;
  readonly #storeUrl: string;
  readonly #channel: BroadcastChannel;
  readonly #pending = new Map<string, Pending>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #attachments = new Map<string, FollowerAttachment>();
  #heads: string[] = [];
  #calls = 0;
  #closed = false;
  /** What this tab does when it closes: let go of its wait for the lock (or of the ledger it took over). */
  readonly #onClose: () => Promise<void>;
  /** The `Ledger` this follower presents. */
  readonly ledger: Ledger;

  constructor(name: string, storeUrl: string, onClose: () => Promise<void>) {
    this.#name = name;
    this.#storeUrl = storeUrl;
    this.#onClose = onClose;
    this.#channel = new BroadcastChannel(channelName(storeUrl));
    this.#channel.onmessage = (event: MessageEvent<TabMessage>) => this.#receive(event.data);
    this.ledger = this.#facade();
  }

  /** Resolves once an owner answered (it may be this tab, once it took over). */
  async ready(): Promise<void> {
    this.#channel.postMessage({ t: "who" });
    this.#heads = (await this.#call("heads", [])) as string[];
  }

  /** Closes this follower: calls still waiting fail `STORE_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.close();
    for (const p of this.#pending.values()) p.reject(new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.#name)} was closed in this tab`));
    this.#pending.clear();
    this.#subscribers.clear();
    await this.#onClose();
  }

  /** Sends a call to the owner; resolves with its reply. */
  #call(method: string, args: readonly unknown[], attachment?: FollowerAttachment): Promise<unknown> {
    if (this.#closed) return Promise.reject(new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.#name)} is closed in this tab; open it again to use it`));
    const message: CallMessage = {
      t: "call",
      id: `${this.tab}:${++this.#calls}`,
      from: this.tab,
      method,
      args,
      ...(attachment !== undefined && { attachment: attachment.url, attachAs: { target: attachment.target, options: attachment.againOptions() } }),
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(message.id, { message, resolve, reject });
      this.#channel.postMessage(message);
    });
  }

  #receive(m: TabMessage): void {
    switch (m.t) {
      case "reply": {
        if (m.to !== this.tab) return;
        const pending = this.#pending.get(m.id);
        if (!pending) return;
        this.#pending.delete(m.id);
        if (m.ok) pending.resolve(this.#rehydrate(m.value));
        else pending.reject(new HearthError(m.code ?? "STORAGE_FAILED", m.message));
        return;
      }
      case "owner":
        if (this.#closed) return;
        // A new owner (or one that just started serving): whatever is unanswered goes to it, and it attaches our sync points.
        for (const p of this.#pending.values()) this.#channel.postMessage(p.message);
        for (const a of this.#attachments.values()) this.#call("attach", [a.target, a.againOptions()]).catch(() => undefined);
        return;
      case "changed": {
        this.#heads = [...m.heads];
        const docs = this.#rehydrate(m.docs) as Array<Doc | { _id: string; _deleted: true }>;
        for (const fn of [...this.#subscribers]) {
          try {
            fn(docs);
          } catch (err) {
            console.error("hearth: a subscriber threw", err);
          }
        }
        return;
      }
      case "attachment":
        this.#attachments.get(m.url)?.hear(m.event, m.payload, m.digest);
        return;
      default:
    }
  }

  #rehydrate<T>(value: T): T {
    return rehydrate(value, (id, name) => this.#call("readFile", [id, name]) as Promise<File>);
  }

  /** A `Ledger` whose calls go to the owner (see the module docs). */
  #facade(): Ledger {
    const withIds = (doc: unknown): unknown =>
      typeof doc === "object" && doc !== null && (doc as { _id?: unknown })._id === undefined ? { ...doc, _id: newDocId() } : doc;
    const own: Record<PropertyKey, unknown> = {
      name: this.#name,
      url: this.#storeUrl,
      then: undefined,
      put: (doc: unknown) => this.#call("put", [withIds(doc)]),
      bulk: (docs: unknown) => this.#call("bulk", [Array.isArray(docs) ? docs.map(withIds) : docs]),
      query: (spec: unknown, options: unknown) => this.#call("query", [typeof spec === "function" ? { fn: spec.toString() } : spec, options]),
      heads: () => {
        if (this.#closed) throw new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.#name)} is closed in this tab`);
        return [...this.#heads];
      },
      subscribe: (fn: Subscriber) => {
        if (this.#closed) throw new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.#name)} is closed in this tab; open it again to use it`);
        this.#subscribers.add(fn);
        return () => void this.#subscribers.delete(fn);
      },
      attach: (target: unknown, options?: AttachOptions) => this.#attach(target, options),
      attachments: () => [...this.#attachments.values()].map((a) => a.attachment),
      close: () => this.close(),
      destroy: async () => {
        throw new HearthError("LOCKED", `another tab owns ledger ${JSON.stringify(this.#name)}; destroy it from that tab, or close the other tabs first`);
      },
    };
    const target = Object.create(Ledger.prototype) as Ledger;
    return new Proxy(target, {
      get: (_, prop) => {
        if (Object.hasOwn(own, prop)) return own[prop];
        if (typeof prop === "string" && LEDGER_CALLS.has(prop)) return (...args: unknown[]) => this.#call(prop, args);
        return undefined;
      },
    });
  }

  async #attach(target: unknown, options: AttachOptions = {}): Promise<Attachment> {
    if (typeof target !== "string") {
      throw new HearthError("INVALID_ARGUMENT", "another tab owns this ledger: attach it by URL (a Remote object cannot cross tabs), or attach in the owner's tab");
    }
    const existing = [...this.#attachments.values()].find((a) => a.target === target || a.url === target);
    if (existing) return existing.attachment;
    // A logger is a function: it cannot cross tabs (the owner's sync engine logs in the owner's tab).
    const { logger: _logger, ...sendable } = options;
    const reply = (await this.#call("attach", [target, sendable])) as { url: string; status: SyncStatus; digest?: string };
    const a: FollowerAttachment = new FollowerAttachment(target, reply.url, reply.status, reply.digest, sendable, (method, args) => this.#call(method, args, a), () => {
      this.#attachments.delete(reply.url);
    });
    this.#attachments.set(reply.url, a);
    return a.attachment;
  }
}

/** An attachment made by the owner for this tab: its status heard on the channel, its calls sent there. */
class FollowerAttachment {
  readonly attachment: Attachment;
  readonly #events = new Emitter<AttachmentEvents>();
  #status: SyncStatus;
  #digest: string | undefined;
  #detached = false;

  constructor(
    /** What this tab attached (with its credentials: a token in the URL), to attach again at a new owner. */
    readonly target: string,
    /** The attachment's URL as the owner names it (credentials taken out). */
    readonly url: string,
    status: SyncStatus,
    digest: string | undefined,
    /** The options it was attached with, less what works once (an invitation, a code, a passphrase). */
    readonly options: AttachOptions,
    private readonly send: (method: string, args: readonly unknown[]) => Promise<unknown>,
    private readonly forget: () => void,
  ) {
    this.#status = status;
    this.#digest = digest;
    const own: Record<PropertyKey, unknown> = {
      url,
      then: undefined,
      status: () => this.#status,
      digest: () => this.#digest ?? "",
      on: (event: keyof AttachmentEvents, fn: (payload: never) => void) => this.#events.on(event, fn as never),
      // The owner keeps the connection (other tabs may use it); this tab stops listening.
      detach: async () => {
        this.#detached = true;
        this.#events.clear();
        this.forget();
      },
    };
    this.attachment = new Proxy(Object.create(Attachment.prototype) as Attachment, {
      get: (_, prop) => {
        if (Object.hasOwn(own, prop)) return own[prop];
        if (typeof prop === "string" && ATTACHMENT_CALLS.has(prop)) {
          return (...args: unknown[]) => (this.#detached ? Promise.reject(new HearthError("STORE_CLOSED", `the attachment to ${url} was detached; attach again to use it`)) : this.send(prop, args));
        }
        return undefined;
      },
    });
  }

  /** The options to attach with again at a new owner: less what works once (an invitation, a share code, a passphrase); the membership is in the store by then. */
  againOptions(): AttachOptions {
    const { invitation: _i, shareCode: _s, passphrase: _p, ...again } = this.options as AttachOptions & { invitation?: string; shareCode?: string; passphrase?: string };
    return again;
  }

  /** An event the owner broadcast for this attachment. */
  hear(event: keyof AttachmentEvents, payload: unknown, digest: string | undefined): void {
    if (this.#detached) return;
    if (event === "status") {
      this.#status = payload as SyncStatus;
      if (digest !== undefined) this.#digest = digest;
    }
    this.#events.emit(event, payload as never);
  }
}
