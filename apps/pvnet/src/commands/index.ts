import type { Command } from "./command.js";
import { demo } from "./demo.js";
import { run } from "./run.js";
import { xenstored } from "./xenstored.js";

/** Every subcommand, in the order `pvnet --help` lists them. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map([run, demo, xenstored].map((c) => [c.name, c]));
