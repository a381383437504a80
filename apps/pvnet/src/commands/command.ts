/** A `pvnet` subcommand: `run` receives the arguments after the command name, returns an exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  run(args: string[]): Promise<number>;
}
