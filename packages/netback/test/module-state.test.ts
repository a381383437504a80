import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";

/**
 * No module-level mutable state: per-packet scratch and state live in the queue (or the device),
 * so two devices, or two runners' threads, never share it. Top-level `let`, and top-level `const`
 * objects, arrays and instances (other than frozen layouts) are reported.
 */

describe("module-level state", () => {
  test("no source file keeps mutable state at module level", () => {
    const dir = new URL("../src/", import.meta.url);
    const found: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(new URL(file, dir), "utf8");
      for (const m of text.matchAll(/^(?:export )?(let|var) (\w+)|^(?:export )?const (\w+)(?:: [^=]+)? = (new |\{|\[)/gm)) {
        const name = m[2] ?? m[3] ?? "";
        found.push(`${file}: ${name}`);
      }
    }
    expect(found).toEqual([]);
  });
});
