import { runReadmeExample } from "@pvnet/testkit";
import { expect, test } from "vitest";

test("the README's Usage example runs and prints what the README says", () => {
  const out = runReadmeExample(new URL("..", import.meta.url));
  expect(out).toBe(
    [
      "vif1.0 connected, 1 queue(s)",
      "vif1.0 -> Dom0: 1000 bytes, 128 linear, 1 frag(s)",
      "rx_packets=1 tx_zerocopy_sent=1 tx_zerocopy_success=1",
      "copy ops=1 map ops=3",
      "still mapped in Dom0: 0 slot(s)",
      "",
    ].join("\n"),
  );
}, 60_000);
