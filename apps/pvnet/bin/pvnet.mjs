#!/usr/bin/env node
// Launcher of the `pvnet` command from a source checkout: runs src/cli.ts under tsx with the
// workspace packages resolved to their sources (the "@pvnet/source" export condition).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tsx = require.resolve("tsx");
const result = spawnSync(process.execPath, ["--conditions=@pvnet/source", "--import", tsx, cli, ...process.argv.slice(2)], { stdio: "inherit" });
process.exitCode = result.status ?? 1;
