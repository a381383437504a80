import { runReadmeExample } from "@pvnet/testkit";
import { expect, it } from "vitest";

it("README Usage block runs and prints what it says", () => {
  const out = runReadmeExample(new URL("..", import.meta.url));
  expect(out.trim().split("\n")).toEqual([
    "true 2 512 516 2",
    "true 1 1",
    '{"grants":0,"reservedRefs":0,"deferredGrants":0,"txInFlight":0,"rxPosted":0,"evtchns":0} 0 0',
  ]);
});
