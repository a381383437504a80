import { runReadmeExample } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";

describe("README usage", () => {
  test("the example runs as written: three sends, three upcalls in Dom0, time charged", () => {
    const out = runReadmeExample(new URL("..", import.meta.url));
    const m = /upcalls=(\d+) sends=(\d+) dom0-busy-ns=(\d+)/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(3);
    expect(Number(m![2])).toBe(3);
    expect(Number(m![3])).toBeGreaterThan(0);
  });
});
