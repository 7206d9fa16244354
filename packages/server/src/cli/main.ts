#!/usr/bin/env node
/**
 * The `hearth` executable: runs the CLI on this process's arguments and
 * exits with its code (0 ok, 1 failure, 2 usage error).
 *
 * @module
 */
import { run } from "./run.js";

// The reader of stdout went away (`hearth export … | head`): it has all it
// wants, so stop quietly, as Unix tools do, rather than report a write error.
// Nothing is lost: every command that writes stdout only reads the ledger.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
