/**
 * Runs async tasks one at a time, in call order. The ledger funnels every
 * mutation of its state (commits, merges, folds, checkpoints) through one,
 * so none of them ever sees another half-done.
 *
 * @module
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it; resolves with its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    // The chain must go on whether or not this task failed.
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has finished. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
