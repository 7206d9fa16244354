/**
 * The `hearth` executable for tests, as a child process: Node 20 cannot
 * run TypeScript, so the CLI is bundled to one ESM file first (`@hearth/core`
 * comes from its build, as for any installed user).
 *
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { bundleForNode } from "../../../core/test/helpers/bundle.js";
import { withDeadline } from "./deadline.js";

/** Bundles `src/cli/main.ts` into `dir`; returns the file to run with `node`. */
export async function bundleCli(dir: string): Promise<string> {
  // ws and pg are CommonJS: the bundle gets a real require; their native add-ons stay out.
  return bundleForNode(new URL("../../src/cli/main.ts", import.meta.url), join(dir, "hearth.mjs"), { external: ["bufferutil", "utf-8-validate", "pg-native"] });
}

/** A running `hearth` process with its output so far. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/** Starts `node <cli> ...args` (in `cwd`, default this process's). */
export function startCli(cli: string, args: string[], cwd?: string): CliProcess {
  const child = spawn(process.execPath, [cli, ...args], { stdio: "pipe", ...(cwd !== undefined && { cwd }) });
  const proc: CliProcess = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1))),
  };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (proc.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (proc.stderr += chunk));
  return proc;
}

/** Runs `node <cli> ...args` to completion (with a deadline). */
export async function runCli(cli: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const proc = startCli(cli, args);
  const code = await withDeadline(proc.exited, timeoutMs, `hearth ${args.join(" ")}`);
  return { code, stdout: proc.stdout, stderr: proc.stderr };
}

/** Starts `hearth serve` and resolves with its URL once it printed its startup line. */
export async function startServeProcess(cli: string, args: string[]): Promise<{ proc: CliProcess; url: string }> {
  const proc = startCli(cli, ["serve", ...args]);
  const url = await withDeadline(
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const match = /listening on (http:\/\/\S+)/.exec(proc.stderr);
        if (match) resolve(match[1]!);
      };
      proc.child.stderr.on("data", check);
      void proc.exited.then((code) => reject(new Error(`hearth serve exited (${code}) before listening: ${proc.stderr}`)));
    }),
    20_000,
    "hearth serve to start",
  );
  return { proc, url };
}
