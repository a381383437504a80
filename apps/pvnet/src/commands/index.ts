import type { Command } from "commander";
import { demoCommand } from "./demo.js";
import { reportCommand } from "./report.js";
import { reproduceCommand } from "./reproduce.js";
import { runCommand } from "./run.js";
import { xenstoredCommand } from "./xenstored.js";

/** Every subcommand, in the order `pvnet --help` lists them. */
export function commands(): Command[] {
  return [runCommand(), reproduceCommand(), reportCommand(), xenstoredCommand(), demoCommand()];
}
