/**
 * Every `hearth` command. A command is one file in this folder; adding one
 * is that file plus one line here.
 *
 * @module
 */
import type { Command } from "../io.js";
import { device } from "./device.js";
import { exportCommand } from "./export.js";
import { importCommand } from "./import.js";
import { inspect } from "./inspect.js";
import { invite } from "./invite.js";
import { join } from "./join.js";
import { members } from "./members.js";
import { remove } from "./remove.js";
import { serve } from "./serve.js";
import { share } from "./share.js";
import { token } from "./token.js";

/** In the order `hearth --help` lists them. */
export const COMMANDS: readonly Command[] = [serve, token, device, inspect, exportCommand, importCommand, share, invite, remove, members, join];
