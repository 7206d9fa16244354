/**
 * Every `hearth` command. A command is one file in this folder; adding one
 * is that file plus one line here.
 *
 * @module
 */
import type { Command } from "../io.js";
import { serve } from "./serve.js";
import { token } from "./token.js";

/** In the order `hearth --help` lists them. */
export const COMMANDS: readonly Command[] = [serve, token];
