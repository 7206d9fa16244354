/**
 * A one-line progress bar on stderr for `export` and `import`, drawn only
 * when stderr is a terminal: redirected or piped stderr (scripts, CI logs)
 * gets no carriage-return noise, and stdout is never touched, so
 * `hearth export todos > todos.jsonl` stays pure JSON lines.
 *
 * @module
 */

/** How often the line is redrawn at most (ms). */
const REDRAW_MS = 100;
const BAR_WIDTH = 24;

/** A progress display; every method is a no-op when disabled. */
export interface Progress {
  /** Reports `count` items done and, when the total is known in `of` units, `done` of `total`. */
  update(count: number, done?: number, total?: number): void;
  /** Erases the line. */
  finish(): void;
}

/** What a progress line shows. */
export interface ProgressState {
  readonly label: string;
  readonly count: number;
  readonly unit: string;
  readonly done?: number;
  readonly total?: number;
  readonly elapsedMs: number;
}

/** The text of one progress line (without the leading carriage return). */
export function progressLine(state: ProgressState): string {
  const rate = state.elapsedMs > 0 ? Math.round((state.count * 1000) / state.elapsedMs) : 0;
  const counted = `${state.count.toLocaleString("en-US")} ${state.unit} (${rate.toLocaleString("en-US")}/s)`;
  if (state.total === undefined || state.done === undefined || state.total <= 0) return `${state.label} ${counted}`;
  const fraction = Math.min(1, Math.max(0, state.done / state.total));
  const filled = Math.round(fraction * BAR_WIDTH);
  return `${state.label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${counted}`;
}

/**
 * A progress display writing to `write` when `enabled` (pass
 * `process.stderr.isTTY`).
 */
export function createProgress(write: (text: string) => void, enabled: boolean, label: string, unit: string): Progress {
  if (!enabled) return { update: () => undefined, finish: () => undefined };
  const started = performance.now();
  let last = 0;
  let shown = false;
  return {
    update(count, done, total) {
      const now = performance.now();
      if (now - last < REDRAW_MS) return;
      last = now;
      shown = true;
      write(`\r\x1b[K${progressLine({ label, count, unit, elapsedMs: now - started, ...(done !== undefined && { done }), ...(total !== undefined && { total }) })}`);
    },
    finish() {
      if (shown) write("\r\x1b[K");
    },
  };
}
