/**
 * `npx @pvnet/cli run ...` from packed tarballs in an empty folder, with no registry: pack the CLI
 * and every @pvnet package it needs (`pnpm pack`, which rewrites workspace: ranges and applies
 * publishConfig), install them with `npm install --offline` into a fresh project, and run the
 * compiled command. It must print the same run report as the source checkout.
 *
 * Needs every package's dist/ (`pnpm build`, which CI runs before `pnpm test`); without them the
 * test is skipped and says so.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

const APP = fileURLToPath(new URL("..", import.meta.url));
const app = JSON.parse(readFileSync(join(APP, "package.json"), "utf8"));
/** The CLI and every @pvnet package it depends on, directly or not. */
function closure(): string[] {
  const dirs = new Map<string, string>();
  for (const d of readdirSync(join(REPO_ROOT, "packages"))) {
    const f = join(REPO_ROOT, "packages", d, "package.json");
    if (existsSync(f)) dirs.set(JSON.parse(readFileSync(f, "utf8")).name, join(REPO_ROOT, "packages", d));
  }
  const out = new Set<string>([APP]);
  const visit = (deps: Record<string, string> | undefined) => {
    for (const name of Object.keys(deps ?? {})) {
      const dir = dirs.get(name);
      if (dir === undefined || out.has(dir)) continue;
      out.add(dir);
      visit(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies);
    }
  };
  visit(app.dependencies);
  return [...out];
}
const packages = closure();
const built = packages.every((d) => existsSync(join(d, "dist")));
if (!built) console.warn("pack.test.ts skipped: run `pnpm build` first (CI does)");

describe.skipIf(!built)("the published pvnet command", () => {
  test("npx @pvnet/cli run works from packed tarballs installed offline in an empty folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvnet-pack-"));
    try {
      const tarballs = join(dir, "tarballs");
      for (const d of packages) execFileSync("pnpm", ["pack", "--pack-destination", tarballs], { cwd: d, stdio: "ignore" });
      const files = readdirSync(tarballs).map((f) => join(tarballs, f));
      expect(files).toHaveLength(packages.length);
      const project = join(dir, "project");
      mkdirSync(project);
      writeFileSync(join(project, "package.json"), JSON.stringify({ name: "try-pvnet", private: true }));
      execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", ...files], { cwd: project, stdio: "ignore" });
      // Nothing from the workspace: no tsx, no sources, the bin is the compiled one.
      expect(existsSync(join(project, "node_modules", "tsx"))).toBe(false);
      expect(existsSync(join(project, "node_modules", "@pvnet", "cli", "src"))).toBe(false);
      expect(existsSync(join(project, "node_modules", "@pvnet", "cli", "LICENSE"))).toBe(true);
      const npx = (...args: string[]) => execFileSync("npx", ["--offline", "@pvnet/cli", ...args], { cwd: project, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      expect(npx("--version").trim()).toBe(app.version);
      const args = ["run", "--pkt-size", "1496", "--packets", "200", "--seed", "4", "--json"];
      const packed = JSON.parse(npx(...args));
      const source = JSON.parse(execFileSync(process.execPath, [join(APP, "bin", "pvnet.mjs"), ...args], { encoding: "utf8" }));
      expect(packed).toMatchObject({ packetsSent: 200, packetsDelivered: 200, corrupt: 0 });
      expect(packed.traceDigest).toBe(source.traceDigest);
      expect(packed.counters).toEqual(source.counters);
      expect(packed.hypercalls).toEqual(source.hypercalls);
      // The sweep's bundled pool (tinypool starts its threads from dist/entry/worker.js): the CSV has
      // no wall-clock column, so the packed command writes the source checkout's bytes.
      const sweep = ["sweep", "--sizes", "64", "--modes", "baseline,persistent", "--packets", "20", "--jobs", "2", "--csv", "-"];
      const packedCsv = npx(...sweep);
      expect(packedCsv.trimEnd().split("\n")).toHaveLength(3);
      expect(packedCsv).toBe(execFileSync(process.execPath, [join(APP, "bin", "pvnet.mjs"), ...sweep], { encoding: "utf8" }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
