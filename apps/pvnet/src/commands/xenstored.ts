/**
 * `pvnet xenstored --socket PATH [--log]`: serve a fresh @pvnet/xenstore store on a unix socket
 * until SIGINT/SIGTERM, so the real Xen tools (xenstore-read, xenstore-ls, pyxs, test-xenstore)
 * can talk to it with XENSTORED_PATH=PATH.
 */
import { createXenstoredServer, XenStore } from "@pvnet/xenstore";
import { Command, Option } from "commander";
import { nonEmpty } from "../cli-options.js";
import { CliError, EXIT } from "./command.js";

async function xenstored(o: { socket?: string; log?: boolean }): Promise<void> {
  if (o.socket === undefined) throw new CliError("--socket PATH is required", EXIT.USAGE);
  const log = o.log === true ? (line: string) => process.stderr.write(`xenstored: ${line}\n`) : undefined;
  // The handlers first: a signal that comes as soon as the socket exists must still remove it.
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let server: Awaited<ReturnType<typeof createXenstoredServer>>;
  try {
    server = await createXenstoredServer(new XenStore(), { socketPath: o.socket, log });
  } catch (e) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    throw new CliError(`cannot serve xenstore on '${o.socket}': ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
  process.stderr.write(`pvnet xenstored: listening on ${server.socketPath}\n`);
  const signal = await signalled;
  await server.close();
  process.stderr.write(`pvnet xenstored: ${signal}, socket removed\n`);
}

export function xenstoredCommand(): Command {
  return new Command("xenstored")
    .summary("serve a xenstore on a unix socket for the real Xen tools")
    .usage("--socket PATH [--log]")
    .description("Serve a xenstore over the xs_wire protocol on a unix socket until SIGINT/SIGTERM.")
    .addOption(new Option("--socket <path>", "where to listen (a stale socket left there is replaced; removed on exit)").argParser(nonEmpty("a socket path")))
    .addOption(new Option("--log", "access log to stderr (one line per connection and request)"))
    .addHelpText("after", "\nThen, for example:  XENSTORED_PATH=PATH xenstore-ls -f /")
    .action(xenstored);
}
