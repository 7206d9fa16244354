/**
 * The sync engine's trace: every decision it makes (what it pushed, what
 * it fetched, why it rejected or held something, how it changed state) is
 * reported to a logger the caller may pass to `attach` (`{ logger }`). By
 * default nothing is reported and nothing is formatted.
 *
 * A logger is one function, so wiring it to `console.debug`, the `debug`
 * package or a test's array is one line:
 *
 * ```ts
 * db.attach(url, { logger: (event, detail) => console.debug(`hearth:sync ${event}`, detail) });
 * ```
 *
 * @module
 */

/** What the engine reports: an event name (`push`, `reject`, `state`, …) and its details. */
export type SyncLogger = (event: string, detail: Readonly<Record<string, unknown>>) => void;

/** The logger that reports nothing. */
export const silentLogger: SyncLogger = () => undefined;
