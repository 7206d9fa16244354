/**
 * The in-process {@link Notifier}: enough when one server instance serves
 * a ledger (the filesystem backend). Listeners are called synchronously in
 * `publish`, so a watcher hears of a change before the writer's request is
 * answered.
 *
 * @module
 */
import type { ChangeListener, Notifier, ObjectChange } from "./types.js";

/** See the module docs. */
export class LocalNotifier implements Notifier {
  readonly #listeners = new Map<string, Set<ChangeListener>>();

  async publish(ledger: string, changes: readonly ObjectChange[] | undefined): Promise<void> {
    for (const fn of [...(this.#listeners.get(ledger) ?? [])]) {
      try {
        fn(changes);
      } catch {
        // One failing watcher must not keep the change from the others.
      }
    }
  }

  async subscribe(ledger: string, fn: ChangeListener): Promise<() => void> {
    let set = this.#listeners.get(ledger);
    if (!set) this.#listeners.set(ledger, (set = new Set()));
    const entry: ChangeListener = (changes) => fn(changes); // distinct per call, so one fn may subscribe twice
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#listeners.get(ledger) === set) this.#listeners.delete(ledger);
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
