/**
 * `hearth device`: prints this device's public key, the thing another
 * member needs to `hearth invite` it. The keyring is the one `open()` uses
 * by default, so the key printed is the key a Node app on this machine
 * presents. The identity is created on first use, like `open()` does.
 *
 * @module
 */
import { openFileKeyring, parseLocation } from "@hearth/core";
import { EXIT, parse, UsageError, type Command } from "../io.js";
import { asUsage, defaultKeyringUrl, locationUrl } from "./ledger-options.js";

const HELP = `Usage: hearth device [--keyring <url>] [--json]

Prints this device's public key on stdout (its fingerprint on stderr). Give the
key to a member of a sync point, who runs \`hearth invite <ledger> <key> --remote <url>\`.
The device identity is created if the keyring has none yet.

Options:
  --keyring <url>     the device keyring: file:///dir or a directory path
                      (default $HEARTH_DIR/.keyring, else ~/.hearth/.keyring)
  --json              print { publicKey, fingerprint, keyring } as one JSON line
  -h, --help          show this help

Exit codes: 0 ok, 1 the keyring cannot be read or created, 2 usage error.
`;

/** See the module docs. */
export const device: Command = {
  name: "device",
  summary: "print this device's public key (to be invited)",
  async run(args, io) {
    const { values } = parse(args, { keyring: { type: "string" }, json: { type: "boolean" } }, HELP);
    if (values.help) {
      io.stdout(HELP);
      return EXIT.OK;
    }
    const url = values.keyring === undefined ? defaultKeyringUrl() : locationUrl(values.keyring);
    const location = await asUsage(HELP, async () => parseLocation(url, "keyring"));
    if (location.scheme !== "file") throw new UsageError(`--keyring must be a file:/// URL or a directory here, got ${JSON.stringify(url)}`, HELP);
    const keyring = await openFileKeyring(location.path);
    try {
      const { publicKey, fingerprint } = await keyring.identity();
      if (values.json) {
        io.stdout(`${JSON.stringify({ publicKey, fingerprint, keyring: url })}\n`);
      } else {
        io.stdout(`${publicKey}\n`);
        io.stderr(`device ${fingerprint} (keyring ${location.path})\n`);
      }
      return EXIT.OK;
    } finally {
      await keyring.close();
    }
  },
};
