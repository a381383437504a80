#!/usr/bin/env node
// The first release, rehearsed: runs `changeset version` in a temporary copy of the repository
// (the committed files plus any new ones git does not ignore) and checks what it would publish —
// every public package at 0.1.0 with a CHANGELOG.md whose first release is 0.1.0, the private ones
// left alone, no changeset left pending. The real tree is not touched. `pnpm release:check`.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The version the first release gives every public package (a `minor` on 0.0.0). */
const FIRST_RELEASE = "0.1.0";

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
    const changelog = join(copy, d, "CHANGELOG.md");
    if (pkg.private) {
      if (pkg.version !== before) problems.push(`${pkg.name} is private but went ${before} -> ${pkg.version}`);
      rows.push(`${pkg.name.padEnd(24)} ${before} (private, not released)`);
      continue;
    }
    if (pkg.version !== FIRST_RELEASE) problems.push(`${pkg.name}: version ${pkg.version}, expected ${FIRST_RELEASE}`);
    if (!existsSync(changelog)) {
      problems.push(`${pkg.name}: no CHANGELOG.md`);
    } else {
      const text = readFileSync(changelog, "utf8");
      if (!text.startsWith(`# ${pkg.name}\n`)) problems.push(`${pkg.name}: CHANGELOG.md does not start with # ${pkg.name}`);
      if (!text.includes(`\n## ${FIRST_RELEASE}\n`)) problems.push(`${pkg.name}: CHANGELOG.md has no ## ${FIRST_RELEASE}`);
    }
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
console.log(`release check: changeset version gives every public package ${FIRST_RELEASE} and a CHANGELOG.md`);
