import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig } from "tsup";

// The published `pvnet` command: compiled JavaScript (no tsx at run time). The @pvnet packages
// stay dependencies; the CLI libraries (commander, cli-progress), the charting ones (vega, vega-lite), the
// sweep's pool and queue (tinypool, bullmq, ioredis) and what they import are bundled in, so the
// package installs from its tarball and those of the @pvnet packages alone.
const tinypoolDist = dirname(createRequire(import.meta.url).resolve("tinypool"));

export default defineConfig({
  // Flat in dist/: the run, reproduce and sweep commands find their workers beside themselves
  // (./run-worker.js, ./reproduce-worker.js, ./sweep-worker.js; threaded mode's ./vcpu-worker.js); the bundled tinypool starts its
  // threads from ./entry/worker.js.
  entry: {
    cli: "src/cli.ts",
    "run-worker": "src/commands/run-worker.ts",
    "reproduce-worker": "src/commands/reproduce-worker.ts",
    "sweep-worker": "src/commands/sweep-worker.ts",
    "vcpu-worker": "src/topology/vcpu-worker.ts",
    "entry/worker": join(tinypoolDist, "entry", "worker.js"),
  },
  format: ["esm"],
  clean: true,
  sourcemap: true,
  target: "node20",
  platform: "node",
  // koffi (the FFI `pvnet tap` opens /dev/net/tun with) loads its native binary from its own
  // package: a dependency, never bundled.
  noExternal: [/^(?!@pvnet\/|koffi$)/],
  // cli-progress is CommonJS: its require() calls of Node's modules need a real require.
  banner: { js: 'import { createRequire as __pvnetCreateRequire } from "node:module"; const require = __pvnetCreateRequire(import.meta.url);' },
});
