/**
 * The `pvnet` program on commander: subcommands from `commands/`, generated help per option,
 * `--version`, `help [command]`, "did you mean" for unknown commands and options. Usage errors exit
 * 2 with commander's one line naming the option; a failed command exits 1 with one line naming
 * what failed, the stack only with `--verbose`.
 */
import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
import { CliError, EXIT } from "./commands/command.js";
import { commands } from "./commands/index.js";

const pkg = createRequire(import.meta.url)("../package.json") as { version: string };

/** Commander's codes for a help or version text that was asked for: not errors. */
const ASKED_FOR = new Set(["commander.helpDisplayed", "commander.version", "commander.help"]);

export function program(): Command {
  const p = new Command("pvnet")
    .description("An executable, byte-level model of the Xen paravirtual network path.")
    .version(pkg.version, "-V, --version", "print the version of pvnet")
    .option("--verbose", "on failure, print the stack of the error that caused it")
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  for (const c of commands()) p.addCommand(c.exitOverride().showSuggestionAfterError(true));
  return p;
}

/** Run the command line `argv` (process.argv form); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const p = program();
  try {
    await p.parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the message (or the help).
      return ASKED_FOR.has(e.code) ? e.exitCode : EXIT.USAGE;
    }
    const verbose = p.opts().verbose === true || argv.includes("--verbose");
    const command = p.args[0] ?? "";
    const prefix = command === "" ? "pvnet" : `pvnet ${command}`;
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`${prefix}: ${err.message}\n`);
    if (verbose) {
      const cause = err.cause instanceof Error ? err.cause : err;
      process.stderr.write(`${cause.stack ?? cause.message}\n`);
    }
    return err instanceof CliError ? err.exitCode : EXIT.FAILED;
  }
}
