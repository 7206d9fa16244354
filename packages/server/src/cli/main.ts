#!/usr/bin/env node
/**
 * The `hearth` executable: runs the CLI on this process's arguments and
 * exits with its code (0 ok, 1 failure, 2 usage error).
 *
 * @module
 */
import { run } from "./run.js";

process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
