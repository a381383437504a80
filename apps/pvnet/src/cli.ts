#!/usr/bin/env node
/**
 * The `pvnet` command line. Each subcommand lives in its own module under `commands/` and is
 * registered in `COMMANDS`; `pnpm pvnet <command> --help` prints its options.
 */
import { COMMANDS } from "./commands/index.js";

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS.get(name);
  if (command === undefined) {
    const lines = [...COMMANDS.values()].map((c) => `  ${c.name.padEnd(12)} ${c.summary}`);
    const out = `usage: pvnet <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
    if (name === undefined || name === "--help" || name === "-h") {
      process.stdout.write(out);
      return 0;
    }
    process.stderr.write(`pvnet: unknown command '${name}'\n\n${out}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pvnet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
