#!/usr/bin/env node
// Launcher of the `pvnet` command from a source checkout: runs src/cli.ts under tsx with the
// workspace packages resolved to their sources (the "@pvnet/source" export condition). Signals
// sent to the launcher (a SIGTERM to stop `pvnet xenstored`) are passed on to the command, and
// the launcher exits as the command does.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tsx = require.resolve("tsx");
const child = spawn(process.execPath, ["--conditions=@pvnet/source", "--import", tsx, cli, ...process.argv.slice(2)], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => {
  // A command ended by a signal exits as a shell reports it: 128 + the signal's number.
  process.exitCode = code ?? 128 + (constants.signals[signal] ?? 0);
});
