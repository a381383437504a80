/**
 * `pvnet xenstored --socket PATH [--log]`: serve a fresh @pvnet/xenstore store on a unix socket
 * until SIGINT/SIGTERM, so the real Xen tools (xenstore-read, xenstore-ls, pyxs, test-xenstore)
 * can talk to it with XENSTORED_PATH=PATH.
 */
import { parseArgs } from "node:util";
import { createXenstoredServer, XenStore } from "@pvnet/xenstore";
import type { Command } from "./command.js";

const USAGE = `usage: pvnet xenstored --socket PATH [--log]

Serve a xenstore over the xs_wire protocol on the unix socket PATH until SIGINT/SIGTERM.

  --socket PATH   where to listen (a stale socket left there is replaced; removed on exit)
  --log           access log to stderr (one line per connection and request)
  -h, --help      this text

Then, for example:  XENSTORED_PATH=PATH xenstore-ls -f /
`;

export const xenstored: Command = {
  name: "xenstored",
  summary: "serve a xenstore on a unix socket for the real Xen tools",
  async run(args: string[]): Promise<number> {
    let values: { socket?: string | undefined; log?: boolean | undefined; help?: boolean | undefined };
    try {
      ({ values } = parseArgs({
        args,
        options: {
          socket: { type: "string" },
          log: { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      process.stderr.write(`pvnet xenstored: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (values.socket === undefined || values.socket.length === 0) {
      process.stderr.write(`pvnet xenstored: --socket PATH is required\n\n${USAGE}`);
      return 2;
    }
    const log = values.log === true ? (line: string) => process.stderr.write(`xenstored: ${line}\n`) : undefined;
    const server = await createXenstoredServer(new XenStore(), { socketPath: values.socket, log });
    process.stderr.write(`pvnet xenstored: listening on ${server.socketPath}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await server.close();
    process.stderr.write(`pvnet xenstored: ${signal}, socket removed\n`);
    return 0;
  },
};
