/**
 * Handles: every `open()` of one store in a process shares one ledger.
 *
 * Before, a second `open(name)` in the same process was `LOCKED`, so an app
 * whose modules each opened "their" ledger (or a component that mounts
 * twice, as React's StrictMode does) had to pass one object around by
 * hand. Now each `open()` returns its own handle onto the one ledger of
 * that store: writes through any handle are seen by all of them at once,
 * and the ledger closes when its last handle closes.
 *
 * A handle is the ledger seen through a `Proxy`, so it is a `Ledger`
 * (`instanceof` holds, every method and getter is there) while keeping
 * what is its own:
 * - `close()` closes this handle: its subscriptions stop and the sync
 *   points it attached detach; the ledger itself closes with the last
 *   handle. Later calls through a closed handle fail with `STORE_CLOSED`,
 *   as on a closed ledger; the other handles go on.
 * - `destroy()` deletes the ledger's data, which the other handles still
 *   use: with other handles open it is `LOCKED` (close them first).
 *
 * Why a proxy and not a wrapper class: the ledger's API is large and
 * grows; a wrapper would have to repeat every method and fall behind.
 *
 * @module
 */
import { HearthError } from "../errors.js";
import type { Attachment } from "../sync/attachment.js";
import type { Ledger } from "./ledger.js";

/** Methods of the ledger that return at once (not a promise): through a closed handle they throw rather than reject. */
const SYNC_METHODS = new Set<PropertyKey>(["heads", "subscribe", "attachments"]);

/** The one ledger of a store in this process, and how many handles hold it. */
export class SharedLedger {
  #handles = 0;
  #closing: Promise<void> | undefined;
  #done!: () => void;
  /** Resolves once the ledger has closed (or was destroyed) after its last handle. */
  readonly closed = new Promise<void>((resolve) => (this.#done = resolve));

  constructor(readonly ledger: Ledger) {}

  /** True once the last handle let go (the ledger is closing or closed): open it afresh. */
  get released(): boolean {
    return this.#closing !== undefined;
  }

  /** Resolves when the ledger has closed after its last handle (at once if it is open). */
  async whenReleased(): Promise<void> {
    await this.#closing?.catch(() => undefined);
  }

  /** A new handle onto the ledger. */
  handle(): Ledger {
    if (this.#closing) throw new Error("internal: a handle onto a released ledger");
    this.#handles++;
    return new Handle(this).ledger;
  }

  /** One handle let go: the last one closes the ledger. */
  async release(): Promise<void> {
    if (--this.#handles > 0) return;
    this.#closing ??= this.ledger.close().finally(() => this.#done());
    await this.#closing;
  }

  /** One handle deletes the ledger's data. @throws HearthError `LOCKED` while other handles hold it */
  async destroy(): Promise<void> {
    if (this.#handles > 1) {
      throw new HearthError(
        "LOCKED",
        `ledger ${JSON.stringify(this.ledger.name)} has ${this.#handles - 1} other open handle(s) in this process; close them before destroying it`,
      );
    }
    this.#handles = 0;
    this.#closing ??= this.ledger.destroy().finally(() => this.#done());
    await this.#closing;
  }
}

/** One handle's own state: its subscriptions, its attachments, whether it is closed. */
class Handle {
  readonly ledger: Ledger;
  readonly #shared: SharedLedger;
  readonly #subscriptions = new Set<() => void>();
  readonly #attachments = new Set<Attachment>();
  /** Methods bound to the ledger, by the function (a method replaced on the ledger is bound anew). */
  readonly #bound = new WeakMap<object, unknown>();
  #closed: Promise<void> | undefined;

  constructor(shared: SharedLedger) {
    this.#shared = shared;
    const target = shared.ledger;
    const own: Record<PropertyKey, unknown> = {
      close: () => this.#close(),
      destroy: () => this.#destroy(),
      subscribe: (fn: Parameters<Ledger["subscribe"]>[0]) => this.#subscribe(fn),
      attach: (...args: Parameters<Ledger["attach"]>) => this.#attach(...args),
    };
    this.ledger = new Proxy(target, {
      get: (t, prop) => {
        if (Object.hasOwn(own, prop)) return own[prop];
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== "function") return value;
        if (this.#closed) return SYNC_METHODS.has(prop) ? () => this.#throwClosed() : () => Promise.reject(this.#closedError());
        let bound = this.#bound.get(value);
        if (bound === undefined) this.#bound.set(value, (bound = (value as (...a: unknown[]) => unknown).bind(t)));
        return bound;
      },
    });
  }

  #closedError(): HearthError {
    return new HearthError("STORE_CLOSED", `this handle on ledger ${JSON.stringify(this.#shared.ledger.name)} is closed; open it again to use it`);
  }

  #throwClosed(): never {
    throw this.#closedError();
  }

  #subscribe(fn: Parameters<Ledger["subscribe"]>[0]): () => void {
    if (this.#closed) this.#throwClosed();
    const stop = this.#shared.ledger.subscribe(fn);
    const unsubscribe = (): void => {
      this.#subscriptions.delete(unsubscribe);
      stop();
    };
    this.#subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  async #attach(...args: Parameters<Ledger["attach"]>): Promise<Attachment> {
    if (this.#closed) throw this.#closedError();
    const attachment = await this.#shared.ledger.attach(...args);
    this.#attachments.add(attachment);
    return attachment;
  }

  #close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const stop of [...this.#subscriptions]) stop();
      // Its own sync points go with it (pushing what is pending first); the others' stay.
      await Promise.all([...this.#attachments].map((a) => a.detach()));
      await this.#shared.release();
    })();
    return this.#closed;
  }

  async #destroy(): Promise<void> {
    if (this.#closed) {
      await this.#closed;
      throw new HearthError("STORE_CLOSED", `ledger ${JSON.stringify(this.#shared.ledger.name)} is closed; open it again to destroy it`);
    }
    await this.#shared.destroy(); // LOCKED (and this handle still open) while others hold it
    this.#closed = Promise.resolve();
    for (const stop of [...this.#subscriptions]) stop();
  }
}
