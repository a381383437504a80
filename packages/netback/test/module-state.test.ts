import { moduleLevelState } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

describe("module-level state", () => {
  test("no source file keeps mutable state at module level (per-packet scratch lives in the queue)", () => {
    expect(moduleLevelState(new URL("../src/", import.meta.url))).toEqual([]);
  });
});
