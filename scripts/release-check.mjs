#!/usr/bin/env node
// The next release, rehearsed: checks that every public package's CHANGELOG.md records the
// version it is at (the first release, 0.1.0, was cut with `changeset version`), then runs
// `changeset version` in a temporary copy of the repository (the committed files plus any new ones
// git does not ignore) and checks what it would publish: each package with a pending changeset
// moves to a higher version with a CHANGELOG.md section for it, the others and the private ones
// stay as they are, no changeset is left pending. The real tree is not touched.
// `pnpm release:check`.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The version of the first release, cut with `changeset version`: no public package is below it. */
const FIRST_RELEASE = "0.1.0";

/** [major, minor, patch] of a plain x.y.z version, or null. */
const parse = (v) => (/^\d+\.\d+\.\d+$/.test(v) ? v.split(".").map(Number) : null);
/** a < b, both x.y.z. */
const lower = (a, b) => {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
};
/** Whether CHANGELOG.md text `text` of package `name` has a section for `version`. */
const records = (text, version) => text.includes(`\n## ${version}\n`);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const changesetBin = createRequire(join(root, "package.json")).resolve("@changesets/cli/bin.js");

const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\0")
  .filter((f) => f !== "" && existsSync(join(root, f)));

const copy = mkdtempSync(join(tmpdir(), "pvnet-release-"));
const problems = [];
try {
  for (const f of files) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    cpSync(join(root, f), join(copy, f));
  }
  // The changelog generator named in .changeset/config.json is resolved from the copy.
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"), "dir");
  // A repository of its own, so the changelog can name the commit that added each changeset.
  const git = (...args) => execFileSync("git", args, { cwd: copy, stdio: "pipe" });
  git("init", "-q");
  git("add", "-A");
  git("-c", "user.name=release-check", "-c", "user.email=release-check@localhost", "commit", "-qm", "copy");

  execFileSync(process.execPath, [changesetBin, "version"], { cwd: copy, stdio: ["ignore", "pipe", "inherit"] });

  const dirs = ["packages", "apps"].flatMap((top) =>
    existsSync(join(copy, top))
      ? readdirSync(join(copy, top))
          .map((d) => join(top, d))
          .filter((d) => existsSync(join(copy, d, "package.json")))
      : [],
  );
  const rows = [];
  for (const d of dirs) {
    const pkg = JSON.parse(readFileSync(join(copy, d, "package.json"), "utf8"));
    const before = JSON.parse(readFileSync(join(root, d, "package.json"), "utf8")).version;
    if (pkg.private) {
      if (pkg.version !== before) problems.push(`${pkg.name} is private but went ${before} -> ${pkg.version}`);
      rows.push(`${pkg.name.padEnd(24)} ${before} (private, not released)`);
      continue;
    }
    const released = join(root, d, "CHANGELOG.md");
    const v0 = parse(before);
    if (v0 === null || lower(v0, parse(FIRST_RELEASE))) problems.push(`${pkg.name}: version ${before}, expected ${FIRST_RELEASE} or later`);
    if (!existsSync(released)) {
      problems.push(`${pkg.name}: no CHANGELOG.md`);
      continue;
    }
    const was = readFileSync(released, "utf8");
    if (!was.startsWith(`# ${pkg.name}\n`)) problems.push(`${pkg.name}: CHANGELOG.md does not start with # ${pkg.name}`);
    if (!records(was, before)) problems.push(`${pkg.name}: CHANGELOG.md has no ## ${before}, the version it is at`);
    if (pkg.version === before) {
      rows.push(`${pkg.name.padEnd(24)} ${before} (nothing pending)`);
      continue;
    }
    const v1 = parse(pkg.version);
    if (v1 === null || v0 === null || !lower(v0, v1)) problems.push(`${pkg.name}: went ${before} -> ${pkg.version}, not to a higher version`);
    if (!records(readFileSync(join(copy, d, "CHANGELOG.md"), "utf8"), pkg.version)) problems.push(`${pkg.name}: CHANGELOG.md gets no ## ${pkg.version}`);
    rows.push(`${pkg.name.padEnd(24)} ${before} -> ${pkg.version}  ${d}/CHANGELOG.md`);
  }
  const left = readdirSync(join(copy, ".changeset")).filter((f) => f.endsWith(".md") && f !== "README.md");
  if (left.length > 0) problems.push(`changesets left pending after changeset version: ${left.join(", ")}`);
  console.log(rows.join("\n"));
} finally {
  rmSync(copy, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(`release check failed:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("release check: every public package's CHANGELOG.md records its version, and changeset version would release each pending change");
