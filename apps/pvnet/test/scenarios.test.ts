import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { SCENARIOS } from "./fixtures/scenarios.js";

/**
 * Behaviour unchanged: every recorded `pvnet run --json` scenario gives the same delivery,
 * counters, hypercalls, modelled time, teardown audit and trace digest as when it was recorded.
 * A deliberate change re-records (test/fixtures/record-scenarios.ts) in the same commit, with the
 * reason in the commit message.
 */
const recorded = JSON.parse(readFileSync(new URL("./fixtures/scenarios.json", import.meta.url), "utf8")) as Record<string, unknown>;

describe("recorded pvnet run scenarios", () => {
  test("the recording covers every scenario and at least 20", () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(recorded).sort()).toEqual(SCENARIOS.map((s) => s.label).sort());
  });
  test.each(SCENARIOS.map((s) => [s.label, s] as const))("pvnet run %s", async (_label, s) => {
    expect(await s.run()).toEqual(recorded[s.label]);
  });
});
