/**
 * The repository stands alone: no tracked file points at a path outside it or at a file a user of
 * the repository (or of the npm packages, whose .d.ts carry the source comments) does not have,
 * and the Xen ABI ground truth the golden tests read lives inside it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { abiFacts, REPO_ROOT, XEN_ABI_DIR } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

/**
 * References to files that only existed beside the development checkout. Written as patterns so
 * that this file does not match itself.
 */
const OUTSIDE_REFERENCES: readonly RegExp[] = [
  /\.\.\/shared\b/,
  /shared\/xen-abi/,
  /\bSEEDS\.md\b/,
  /\bDESIGN\.md\b/,
  /\bSTYLE\.md\b/,
];

/** Tracked files not to read: the lockfile (generated, and large). */
const SKIPPED = new Set(["pnpm-lock.yaml"]);

/** Bytes looked at to tell a binary file (one with a NUL byte) from text, as git and grep do. */
const BINARY_SNIFF_BYTES = 8000;

function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  return out.split("\0").filter((f) => f !== "" && !SKIPPED.has(f));
}

describe("the repository stands alone", () => {
  test("no tracked file refers to a path outside the repository or to files a user lacks", () => {
    const files = trackedFiles();
    // A checkout always tracks its own README and this test: an empty list means git saw nothing.
    expect(files).toContain("README.md");
    expect(files).toContain("pnpm-workspace.yaml");
    const hits: string[] = [];
    for (const file of files) {
      const path = join(REPO_ROOT, file);
      if (!existsSync(path)) continue; // deleted in the work tree, not yet committed
      const bytes = readFileSync(path);
      if (bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0)) continue;
      const lines = bytes.toString("utf8").split("\n");
      lines.forEach((line, i) => {
        if (OUTSIDE_REFERENCES.some((re) => re.test(line))) hits.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits, `references to files outside the repository:\n${hits.join("\n")}`).toEqual([]);
  });

  test("the ABI ground truth is read from abi/ inside the repository", () => {
    const rel = relative(REPO_ROOT, XEN_ABI_DIR);
    expect(rel).toBe("abi");
    const facts = abiFacts();
    // Two facts every golden test relies on: the TX request is 12 bytes, GNTST_okay is 0.
    expect(facts.netif_h.netif_tx_request.sizeof).toBe(12);
    expect(facts.grant_table_h.GNTST.find((s: { name: string }) => s.name === "GNTST_okay")?.value).toBe(0);
  });

  const header = "/usr/include/xen/io/netif.h";
  test.skipIf(!existsSync(header) || !hasCc())(
    "abi/abi-facts.c compiled against the installed Xen headers reproduces abi/abi-facts.json",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "pvnet-abi-"));
      try {
        const bin = join(dir, "abi-facts");
        execFileSync("cc", ["-O0", join(XEN_ABI_DIR, "abi-facts.c"), "-o", bin]);
        const generated = execFileSync(bin, { encoding: "utf8", maxBuffer: 16 << 20 });
        expect(generated).toBe(readFileSync(join(XEN_ABI_DIR, "abi-facts.json"), "utf8"));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

function hasCc(): boolean {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
