/**
 * The `hearth` CLI as a function: arguments in, exit code out, so tests run
 * it in-process and `main.ts` only wires it to the process.
 *
 * @module
 */
import { isHearthError } from "@hearth/core";
import { COMMANDS } from "./commands/index.js";
import { EXIT, UsageError, type CliIO } from "./io.js";

const HELP = `Usage: hearth <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)}  ${c.summary}`).join("\n")}

Run \`hearth <command> --help\` for a command's options.
Exit codes: 0 ok, 1 the command failed, 2 usage error.
`;

/** Runs `hearth <args>`; resolves the exit code (never rejects). */
export async function run(args: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    (name === undefined ? io.stderr : io.stdout)(HELP);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`, HELP);
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`hearth${command ? ` ${command.name}` : ""}: ${err.message}\n\n${err.help}`);
      return EXIT.USAGE;
    }
    const detail = isHearthError(err) ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
    io.stderr(`hearth ${name}: ${detail}\n`);
    return EXIT.FAILURE;
  }
}
