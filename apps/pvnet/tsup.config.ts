import { defineConfig } from "tsup";

// The published `pvnet` command: compiled JavaScript (no tsx at run time). The @pvnet packages
// stay dependencies; the CLI libraries (commander, cli-progress) and the charting ones (vega, vega-lite) are bundled in, so the
// package installs from its tarball and those of the @pvnet packages alone.
export default defineConfig({
  // Flat in dist/: the run command finds its worker beside itself (./run-worker.js).
  entry: { cli: "src/cli.ts", "run-worker": "src/commands/run-worker.ts", "sweep-worker": "src/commands/sweep-worker.ts" },
  format: ["esm"],
  clean: true,
  sourcemap: true,
  target: "node20",
  platform: "node",
  noExternal: ["commander", "cli-progress", "vega", "vega-lite"],
  // cli-progress is CommonJS: its require() calls of Node's modules need a real require.
  banner: { js: 'import { createRequire as __pvnetCreateRequire } from "node:module"; const require = __pvnetCreateRequire(import.meta.url);' },
});
