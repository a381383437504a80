/**
 * `pvnet run --ctrl-ring`: both ends negotiate feature-ctrl-ring, the guest's control client sets
 * a Toeplitz hash over IPv4 and IPv4/TCP with a 128-entry mapping, and Dom0's frames to the guest
 * then go to the queue each flow's hash names, byte-exact.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { toeplitzHash } from "@pvnet/netback";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";
import { RSS_INDIRECTION_ENTRIES, RSS_VERIFICATION_KEY, rssIndirectionTable } from "../src/topology/rss.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

/** The queue netback's Toeplitz mapping gives flow `flow` of the topology's generator (frame.ts's addresses and ports). */
function expectedQueue(flow: number, tcp: boolean, queues: number): number {
  const src = 0x0a000001 + flow;
  const dst = 0x0a800001 + flow;
  const sport = tcp ? 40000 + flow : 9000 + flow;
  const dport = tcp ? 5001 : 9;
  const be = (v: number, n: number) => Array.from({ length: n }, (_, i) => (v >>> (8 * (n - 1 - i))) & 0xff);
  const tuple = Uint8Array.from([...be(src, 4), ...be(dst, 4), ...be(sport, 2), ...be(dport, 2)]);
  // Flags IPV4 | IPV4_TCP: TCP hashes the 4-tuple, UDP only the addresses.
  const hash = toeplitzHash(RSS_VERIFICATION_KEY, RSS_VERIFICATION_KEY.length, tuple, tcp ? 12 : 8);
  return rssIndirectionTable(queues)[hash % RSS_INDIRECTION_ENTRIES]!;
}

function expectedPerQueue(queues: number, packets: number, tcp: boolean): number[] {
  const per = new Array<number>(queues).fill(0);
  for (let seq = 0; seq < packets; seq++) per[expectedQueue(seq % queues, tcp, queues)]!++;
  return per;
}

describe("--ctrl-ring", () => {
  test.each([
    [1496, 4, 800],
    [65535, 3, 90],
    [1496, 1, 100],
  ])("DomU <- Dom0, %i-byte frames over %i queues: 5 SUCCESS answers, the mapping live, each flow on its hashed queue", async (pktSize, queues, packets) => {
    const r = await runDomuDom0({ seed: 5, direction: "rx", pktSize, packets, queues, ctrlRing: true });
    expectAllDelivered(r, packets);
    expect(r.ctrlRing?.statuses).toEqual([0, 0, 0, 0, 0]);
    expect(r.ctrlRing?.mapping).toEqual(rssIndirectionTable(queues));
    expect(r.queuePackets).toEqual(expectedPerQueue(queues, packets, pktSize > 1514));
    expectCleanTeardown(r);
  });

  test("without the flag no control ring is connected and the report has no hash section", async () => {
    const r = await runDomuDom0({ seed: 5, direction: "rx", pktSize: 1496, packets: 40, queues: 2 });
    expect(r.ctrlRing).toBeUndefined();
    expect(r.queuePackets).toBeUndefined();
    expect(r.hypercalls.byOp["event_channel_op:alloc_unbound"]?.calls).toBe(4); // TX and RX of each queue; no ctrl channel
  });

  test("DomU -> DomU: guest B's mapping spreads the bridged flows over its queues", async () => {
    const r = await runDomuDomu({ seed: 2, pktSize: 1496, packets: 300, queues: 3, ctrlRing: true });
    expectAllDelivered(r, 300);
    expect(r.ctrlRing?.statuses).toEqual([0, 0, 0, 0, 0]);
    expect(r.queuePackets).toEqual(expectedPerQueue(3, 300, false));
    expectCleanTeardown(r);
  });

  test("pvnet run --ctrl-ring --json on the command line", () => {
    const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));
    const out = execFileSync(process.execPath, [bin, "run", "--direction", "rx", "--queues", "4", "--ctrl-ring", "--pkt-size", "1496", "--packets", "400", "--json"], { encoding: "utf8", cwd: REPO_ROOT });
    const r = JSON.parse(out);
    expect(r).toMatchObject({ packetsDelivered: 400, corrupt: 0, dropped: 0, ctrlRing: { statuses: [0, 0, 0, 0, 0] } });
    expect(r.queuePackets).toEqual(expectedPerQueue(4, 400, false));
  });
});
