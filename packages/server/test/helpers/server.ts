/**
 * A real sync server for tests: filesystem backend in a temp directory,
 * listening on 127.0.0.1 (port 0 unless a restart needs the same one), no
 * logs. Everything started is stopped and removed by `cleanup`.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, openFsBackend, silentLogger, type Backend, type HearthServer, type Rights } from "../../src/index.js";

/** A running test server and what it runs on. */
export interface TestServer {
  readonly server: HearthServer;
  readonly backend: Backend;
  readonly dir: string;
  readonly url: string;
  readonly port: number;
  /** Mints a token (default read-write) for `ledger`. */
  token(ledger: string, rights?: Rights, expiresAt?: number): Promise<string>;
  /** Stops the server (the directory stays, for a restart). */
  stop(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  readonly dir?: string;
  readonly port?: number;
  readonly maxBodyBytes?: number;
  readonly quotaBytes?: number;
  readonly pingMs?: number;
  readonly helloTimeoutMs?: number;
}

const dirs: string[] = [];
const running = new Set<HearthServer>();

/** A fresh temp directory, removed by {@link cleanup}. */
export function tempDir(prefix = "hearth-server-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Starts a server (on `dir` and `port` when given: a restart). */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? tempDir();
  const backend = await openFsBackend(dir, { fsync: false });
  const server = await createServer({
    backend,
    port: options.port ?? 0,
    logger: silentLogger,
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
    ...(options.quotaBytes !== undefined && { quotaBytes: options.quotaBytes }),
    ...(options.pingMs !== undefined && { pingMs: options.pingMs }),
    ...(options.helloTimeoutMs !== undefined && { helloTimeoutMs: options.helloTimeoutMs }),
  });
  running.add(server);
  return {
    server,
    backend,
    dir,
    url: server.url,
    port: Number(new URL(server.url).port),
    async token(ledger, rights = "read-write", expiresAt) {
      return (await backend.tokens.create({ ledger, rights, ...(expiresAt !== undefined && { expiresAt }) })).token;
    },
    async stop() {
      running.delete(server);
      await server.close();
    },
  };
}

/** Stops every server still running and removes every temp directory. */
export async function cleanup(): Promise<void> {
  await Promise.all([...running].map((s) => s.close()));
  running.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let counter = 0;
/** A ledger name unique in this run. */
export function uniqueLedger(prefix = "l"): string {
  return `${prefix}-${process.pid}-${++counter}`;
}
