/** What the `pvnet` subcommands share: exit codes and the error that ends a command. */

/** Exit codes of `pvnet`, as shells and sysexits read them. */
export const EXIT = {
  OK: 0,
  /** The command ran and failed (a run that did not settle, a socket that could not be served). */
  FAILED: 1,
  /** The command line was wrong (unknown option, value out of range); nothing ran. */
  USAGE: 2,
  /** Stopped by SIGINT (Ctrl-C): 128 + SIGINT's number 2, as a shell reports it. */
  INTERRUPTED: 130,
} as const;

/**
 * The one-line failure of a command: `pvnet <command>: <message>`, with `exitCode`. The error that
 * caused it (`cause`) is printed with its stack only under `--verbose`.
 */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A usage error found after parsing (an option that needs another, a bad layout): exit 2. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.USAGE);
}
