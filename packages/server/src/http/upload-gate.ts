/**
 * Bounds the memory that request bodies take. A body is held whole while it
 * is checked and stored, so without a bound the server's memory is the sum
 * of every upload in flight: 20 concurrent uploads at the 32 MiB limit took
 * it from 72 MB to 1.13 GB.
 *
 * A request with a body over 4 KiB reserves its body's size (as declared,
 * or the server's limit when it streams without a length; a body streamed
 * to the backend, only what it holds at once) before a byte of the body is
 * read, and gives it back once the body is stored. While the reservations
 * would pass the budget, requests wait in arrival order (TCP flow control
 * holds their bytes in the client meanwhile), and one token has at most
 * {@link UploadGateOptions.perToken} bodies in flight, so one client cannot
 * take the whole budget from the others. A request whose client goes away
 * while it waits leaves the queue.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import { WireFailure } from "./failure.js";

/** Options of {@link UploadGate}. */
export interface UploadGateOptions {
  /** Bytes of bodies in flight, at most (at least the largest body). */
  readonly budgetBytes: number;
  /** Bodies in flight per token, at most. */
  readonly perToken: number;
}

interface Waiting {
  readonly token: string;
  readonly bytes: number;
  admit(): void;
}

/** See the module docs. */
export class UploadGate {
  readonly #budget: number;
  readonly #perToken: number;
  #used = 0;
  readonly #byToken = new Map<string, number>();
  readonly #queue: Waiting[] = [];

  constructor(options: UploadGateOptions) {
    this.#budget = options.budgetBytes;
    this.#perToken = options.perToken;
  }

  /** Bytes reserved by bodies in flight now. */
  get usedBytes(): number {
    return this.#used;
  }

  /**
   * Waits until `req`'s body of `bytes` may be read; returns the function
   * that gives the reservation back (call it once, when done with the body).
   * @throws WireFailure `BAD_REQUEST` if the client goes away while waiting
   */
  async enter(req: IncomingMessage, token: string, bytes: number): Promise<() => void> {
    const reserve = Math.min(bytes, this.#budget);
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => {
        const at = this.#queue.indexOf(waiting);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        reject(new WireFailure("BAD_REQUEST", "the client went away while its upload waited for the server's upload budget"));
        this.#pump();
      };
      const waiting: Waiting = {
        token,
        bytes: reserve,
        admit: () => {
          req.off("close", onClose);
          resolve();
        },
      };
      req.once("close", onClose);
      this.#queue.push(waiting);
      this.#pump();
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#count(token, -reserve, -1);
      this.#pump();
    };
  }

  #count(token: string, bytes: number, bodies: number): void {
    this.#used += bytes;
    const n = (this.#byToken.get(token) ?? 0) + bodies;
    if (n === 0) this.#byToken.delete(token);
    else this.#byToken.set(token, n);
  }

  /**
   * Admits waiting requests in arrival order. One that does not fit the
   * budget stops the pass (a big body is never passed over for ever by
   * small ones); one whose token is at its limit is passed over, so other
   * tokens go on.
   */
  #pump(): void {
    for (let i = 0; i < this.#queue.length; ) {
      const next = this.#queue[i]!;
      if (this.#used + next.bytes > this.#budget) return;
      if ((this.#byToken.get(next.token) ?? 0) >= this.#perToken) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#count(next.token, next.bytes, 1);
      next.admit();
    }
  }
}
