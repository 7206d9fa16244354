/**
 * The page side of `page-runner.mjs`: runs named cases one at a time and
 * reports each through the `__hearthReport` binding the runner exposes
 * (the protocol of `run.mjs`), then says it is done. Shared by the pages
 * of the packages built on core (React hooks, use-fireproof, tabs with a
 * worker).
 *
 * @module
 */

/** What a page tells the runner. */
export type Report =
  | { readonly type: "start"; readonly name: string }
  | { readonly type: "case"; readonly name: string; readonly ok: boolean; readonly ms: number; readonly error?: string }
  | { readonly type: "done" };

declare global {
  // Exposed by the runner with page.exposeFunction before the page loads.
  var __hearthReport: ((report: Report) => Promise<void>) | undefined;
}

/** One named case. */
export interface PageCase {
  readonly name: string;
  run(): Promise<void>;
}

/** Throws `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Runs `cases` in order, reporting each; `after` runs after every case, passed or failed. */
export async function runCases(cases: readonly PageCase[], after: () => void = () => undefined): Promise<void> {
  const report = globalThis.__hearthReport ?? (async () => undefined);
  for (const c of cases) {
    await report({ type: "start", name: c.name });
    const started = performance.now();
    try {
      await c.run();
      await report({ type: "case", name: c.name, ok: true, ms: performance.now() - started });
    } catch (err) {
      await report({ type: "case", name: c.name, ok: false, ms: performance.now() - started, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    } finally {
      after();
    }
  }
  await report({ type: "done" });
}
