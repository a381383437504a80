import type { Command } from "./command.js";
import { demo } from "./demo.js";
import { xenstored } from "./xenstored.js";

/** Every subcommand, in the order `pvnet --help` lists them. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map([demo, xenstored].map((c) => [c.name, c]));
