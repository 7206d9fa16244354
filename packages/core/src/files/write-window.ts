/**
 * A bounded number of store writes in flight: a file's blocks are handed
 * to the store without waiting for each append, so sealing the next chunk
 * overlaps writing this one (the file store appends large records on
 * Node's thread pool), while memory stays bounded by the window.
 *
 * Portable.
 *
 * @module
 */

/** See the module docs. */
export class WriteWindow {
  readonly #limit: number;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: { readonly error: unknown } | undefined;

  /** @param limit - writes in flight at most (each holds one block) */
  constructor(limit: number) {
    if (!(Number.isSafeInteger(limit) && limit > 0)) throw new RangeError(`a write window holds at least one write, got ${limit}`);
    this.#limit = limit;
  }

  /**
   * Starts `write` once fewer than the limit are in flight.
   * @throws the first failure of an earlier write (later ones are dropped: the whole file failed)
   */
  async add(write: () => Promise<void>): Promise<void> {
    while (this.#inFlight.size >= this.#limit) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const running: Promise<void> = write().then(
      () => void this.#inFlight.delete(running),
      (error: unknown) => {
        this.#inFlight.delete(running);
        this.#failure ??= { error };
      },
    );
    this.#inFlight.add(running);
  }

  /**
   * Waits for every write in flight.
   * @throws the first failure among them
   */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
  }

  /** Waits for every write in flight and forgets their failures (the caller is failing already). */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
