#!/usr/bin/env node
/**
 * The `pvnet` command line (see cli-program.ts). Each subcommand lives in its own module under
 * `commands/`; `pvnet help <command>` prints its options.
 */
import { main } from "./cli-program.js";

// A reader that went away (`pvnet run --help | head`) ends the command quietly, as in other tools.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
