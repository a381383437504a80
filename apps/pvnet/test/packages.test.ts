/**
 * Every published package is ready for npm: the MIT LICENSE ships in its tarball, its package.json
 * says where its source, home page and issue tracker are, and its README starts with the line
 * that installs it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
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
      expect(readme.slice(0, 5)).toEqual([`# ${pkg.name}`, "", "```sh", `npm install ${pkg.name}`, "```"]);
    }
  });
});
