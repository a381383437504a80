import type { Command } from "./command.js";
import { demo } from "./demo.js";

/** Every subcommand, in the order `pvnet --help` lists them. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map([demo].map((c) => [c.name, c]));
