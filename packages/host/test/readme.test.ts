import { runReadmeExample } from "@pvnet/testkit";
import { expect, test } from "vitest";

test("the README's Usage example runs and prints what the README says", () => {
  const out = runReadmeExample(new URL("..", import.meta.url));
  expect(out).toBe(
    [
      "netfront connected, 1 queue(s)",
      "Dom0 received 3 frame(s), 3000 bytes, 0 corrupt",
      "after detach: dom0 maps 0, guest grants 0 pinned, event channels 0",
      "",
    ].join("\n"),
  );
}, 60_000);
