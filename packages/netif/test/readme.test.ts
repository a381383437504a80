import { runReadmeExample } from "@pvnet/testkit";
import { expect, test } from "vitest";

test("the README's Usage example runs and prints what the README says", () => {
  const out = runReadmeExample(new URL("..", import.meta.url));
  // The backend reads request, extra, request; the frontend gets OKAY, NULL (the extra), OKAY.
  expect(out).toBe(
    ["request 0: 3000 bytes at 8:96", "extra type 1 gso_size 1448", "request 1: 1000 bytes at 9:0", "response 0 0", "response 0 1", "response 1 0", ""].join("\n"),
  );
}, 60_000);
