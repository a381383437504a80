import { readdirSync, readFileSync } from "node:fs";
import { runReadmeExample } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

describe("README", () => {
  test("the Usage example runs as written", () => {
    const out = runReadmeExample(new URL("..", import.meta.url));
    expect(out).toBe("backend sees /local/domain/1/device/vif/0 { sg: true, gso: false }\n4 3\n");
  });

  test("names every source file", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const f of readdirSync(new URL("../src", import.meta.url))) {
      if (f !== "index.ts") expect(readme).toContain(`src/${f}`);
    }
  });
});
