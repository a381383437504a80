import { readFileSync } from "node:fs";
import { runReadmeExample } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

describe("README usage", () => {
  test("the example runs as written and replays to the same digest", () => {
    const first = runReadmeExample(new URL("..", import.meta.url));
    const [reason, delivered, busyNs, digest] = first.trim().split(" ");
    expect(reason).toBe("idle");
    expect(Number(busyNs)).toBe(100 * 164);
    expect(Number(delivered)).toBeGreaterThan(80);
    expect(Number(delivered)).toBeLessThan(100);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    expect(runReadmeExample(new URL("..", import.meta.url))).toBe(first);
  });

  test("the README names every source file", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const f of ["prng", "clock", "scheduler", "actor", "cost", "faults", "trace", "simulation"]) expect(readme).toContain(`src/${f}.ts`);
  });
});
