import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";

it("README Usage block runs and prints what its comments say", async () => {
  // The first ts block of README.md, run as it is (its package import pointed at the source).
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  expect(block).toContain("SEED5_WORST_CASE");
  const expected = block
    .split("\n")
    .filter((l, i, all) => l.startsWith("// ") && (all[i - 1] ?? "").startsWith("console.log("))
    .map((l) => l.slice(3));
  expect(expected.length).toBe(4);
  const file = new URL(`../.readme-example-${process.pid}.mts`, import.meta.url);
  writeFileSync(file, block.replace('"@pvnet/skb-model"', '"./src/index.ts"'));
  const printed: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(" "));
  });
  try {
    await import(/* @vite-ignore */ file.href);
  } finally {
    spy.mockRestore();
    rmSync(fileURLToPath(file), { force: true });
  }
  expect(printed).toEqual(expected);
});
