/**
 * Every published package is ready for npm: the MIT LICENSE ships in its tarball, its package.json
 * says where its source, home page and issue tracker are, and its README starts with the line
 * that installs it, and its Usage example also comes in JavaScript, as an ES module and as
 * CommonJS, each printing what the TypeScript one prints.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

const REPOSITORY = "git+https://github.com/pvnet/pvnet.git";
const license = readFileSync(join(REPO_ROOT, "LICENSE"), "utf8");
const dirs = [...readdirSync(join(REPO_ROOT, "packages")).map((d) => `packages/${d}`), "apps/pvnet"].filter((d) => existsSync(join(REPO_ROOT, d, "package.json")));

describe("npm-grade packages", () => {
  test("the root LICENSE is MIT, 2026, pvnet contributors", () => {
    expect(license.split("\n")[0]).toBe("MIT License");
    expect(license).toContain("Copyright (c) 2026 pvnet contributors");
  });

  test.each(dirs)("%s: LICENSE, repository with directory, homepage, bugs, keywords, description", (dir) => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, dir, "package.json"), "utf8"));
    expect(readFileSync(join(REPO_ROOT, dir, "LICENSE"), "utf8")).toBe(license);
    expect(pkg.license).toBe("MIT");
    expect(pkg.repository).toEqual({ type: "git", url: REPOSITORY, directory: dir });
    expect(pkg.homepage).toBe(`https://github.com/pvnet/pvnet/tree/main/${dir}#readme`);
    expect(pkg.bugs).toEqual({ url: "https://github.com/pvnet/pvnet/issues" });
    expect(pkg.keywords.length).toBeGreaterThan(0);
    expect(pkg.description.length).toBeGreaterThan(20);
    if (pkg.files !== undefined) expect(pkg.files).toContain("LICENSE");
    if (pkg.private !== true) {
      const readme = readFileSync(join(REPO_ROOT, dir, "README.md"), "utf8").split("\n");
      // A command installs globally; a library into the project.
      const install = pkg.bin === undefined ? `npm install ${pkg.name}` : `npm install -g ${pkg.name}`;
      expect(readme.slice(0, 5)).toEqual([`# ${pkg.name}`, "", "```sh", install, "```"]);
    }
  });
});

/** The first ```<lang> block under the README's `## Usage` heading. */
function usageBlock(readme: string, lang: string): string | undefined {
  const usage = readme.indexOf("## Usage");
  return new RegExp(`\`\`\`${lang}\n([\\s\\S]*?)\`\`\``).exec(readme.slice(Math.max(usage, 0)))?.[1];
}

/** Run `code` as `file` inside the package directory (its name resolves to itself), from source. */
async function runAs(dir: string, file: string, code: string): Promise<string> {
  const path = join(dir, `.readme-${process.pid}-${file}`);
  writeFileSync(path, code);
  try {
    const tsx = join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
    const { stdout } = await promisify(execFile)(process.execPath, [tsx, "--conditions=@pvnet/source", path], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    return stdout;
  } finally {
    rmSync(path, { force: true });
  }
}

const published = dirs.filter((d) => d.startsWith("packages/") && existsSync(join(REPO_ROOT, d, "README.md")));

describe.concurrent("README examples in JavaScript", () => {
  test.each(published)("%s: the mjs and cjs examples print what the TypeScript example prints", async (d) => {
    const dir = join(REPO_ROOT, d);
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    const [tsCode, mjs, cjs] = [usageBlock(readme, "ts"), usageBlock(readme, "mjs"), usageBlock(readme, "cjs")];
    expect(mjs, "an ```mjs block under ## Usage").toBeDefined();
    expect(cjs, "a ```cjs block under ## Usage").toBeDefined();
    expect(mjs).not.toMatch(/\brequire\(/);
    expect(cjs).not.toMatch(/^import /m);
    const [fromTs, fromMjs, fromCjs] = await Promise.all([runAs(dir, "example.mts", tsCode as string), runAs(dir, "example.mjs", mjs as string), runAs(dir, "example.cjs", cjs as string)]);
    expect(fromTs.length).toBeGreaterThan(0);
    expect(fromMjs).toBe(fromTs);
    expect(fromCjs).toBe(fromTs);
  });
});
