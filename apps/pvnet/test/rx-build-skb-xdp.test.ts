import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SEED5_WORST_CASE, skbDescLen } from "@pvnet/skb-model";
import { REPO_ROOT } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";
import { expectAllDelivered, expectCleanTeardown } from "./expect.js";

const bin = fileURLToPath(new URL("../bin/pvnet.mjs", import.meta.url));

function pvnet(...args: string[]): { code: number; stderr: string } {
  try {
    execFileSync(process.execPath, [bin, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });
    return { code: 0, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stderr: string };
    return { code: err.status, stderr: err.stderr };
  }
}

describe("Dom0 -> DomU with build_skb RX and XDP (netback offering feature-xdp-headroom)", () => {
  test.each([
    [64, 300, "rxBuildSkb"],
    [1496, 300, "rxBuildSkb"],
    [65535, 30, "rxBuildSkbNoTailroom"],
  ] as const)("build_skb: %i-byte frames all arrive byte-exact, teardown clean", async (pktSize, packets, counter) => {
    const r = await runDomuDom0({ seed: 3, direction: "rx", pktSize, packets, rxBuildSkb: true });
    expectAllDelivered(r, packets);
    expect(r.frontendRxPath?.[counter]).toBe(packets);
    expectCleanTeardown(r);
  });

  test("build_skb with the 51-slot layout on Dom0's side: byte-exact", async () => {
    const r = await runDomuDom0({ seed: 5, direction: "rx", pktSize: skbDescLen(SEED5_WORST_CASE), packets: 20, layout: SEED5_WORST_CASE, rxBuildSkb: true });
    expectAllDelivered(r, 20);
    expectCleanTeardown(r);
  });

  test("--xdp drop: nothing delivered, every frame counted dropped; tx: every frame back in Dom0; a module's program", async () => {
    const drop = await runDomuDom0({ seed: 1, direction: "rx", pktSize: 64, packets: 200, xdp: "drop", rxBuildSkb: true });
    expect(drop.packetsDelivered).toBe(0);
    expect(drop.dropped).toBe(200);
    expect(drop.frontendRxPath?.xdpDrop).toBe(200);
    expectCleanTeardown(drop);
    const tx = await runDomuDom0({ seed: 1, direction: "rx", pktSize: 64, packets: 200, xdp: "tx" });
    expectAllDelivered(tx, 200); // reflected to Dom0's stack unchanged
    expect(tx.frontendRxPath?.xdpTx).toBe(200);
    expect(tx.frontend.txPackets).toBe(200);
    expectCleanTeardown(tx);
    const dir = mkdtempSync(join(tmpdir(), "pvnet-xdp-"));
    try {
      const file = join(dir, "prog.mjs");
      // Drop (XDP_DROP = 1) every frame whose last byte is odd, pass the others.
      writeFileSync(file, "export default (frame) => (frame[frame.length - 1] & 1 ? 1 : 'pass');\n");
      const mod = await runDomuDom0({ seed: 1, direction: "rx", pktSize: 100, packets: 200, xdp: file });
      const s = mod.frontendRxPath;
      expect(s?.xdpPackets).toBe(200);
      expect((s?.xdpDrop ?? 0) + (s?.xdpPass ?? 0)).toBe(200);
      expect(s?.xdpDrop).toBeGreaterThan(0);
      expect(s?.xdpPass).toBeGreaterThan(0);
      expect(mod.packetsDelivered).toBe(s?.xdpPass);
      expect(mod.dropped).toBe(s?.xdpDrop);
      expect(mod.corrupt).toBe(0);
      expectCleanTeardown(mod);
      writeFileSync(join(dir, "bad.mjs"), "export const x = 1;\n");
      const bad = pvnet("run", "--direction", "rx", "--pkt-size", "64", "--packets", "10", "--xdp", join(dir, "bad.mjs"));
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("default export is not a function");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const txDir = pvnet("run", "--direction", "tx", "--pkt-size", "64", "--packets", "10", "--xdp", "drop");
    expect(txDir.code).toBe(2);
    expect(txDir.stderr).toContain("--direction rx");
  });
});

describe("DomU -> DomU with build_skb RX and XDP on the receiving guest (B)", () => {
  test.each([
    [64, 300, "rxBuildSkb"],
    [1496, 300, "rxBuildSkb"],
    [65535, 30, "rxBuildSkbNoTailroom"],
  ] as const)("build_skb: %i-byte frames from guest A all arrive in guest B byte-exact, teardown clean", async (pktSize, packets, counter) => {
    const r = await runDomuDomu({ seed: 3, pktSize, packets, rxBuildSkb: true });
    expectAllDelivered(r, packets);
    expect(r.frontendRxPath?.[counter]).toBe(packets);
    expect(r.bridge.forwarded).toBe(packets);
    expectCleanTeardown(r);
  });

  test("build_skb with seed 5's 51-slot layout on guest A's side: byte-exact in guest B", async () => {
    const r = await runDomuDomu({ seed: 5, pktSize: skbDescLen(SEED5_WORST_CASE), packets: 20, layout: SEED5_WORST_CASE, rxBuildSkb: true });
    expectAllDelivered(r, 20);
    expectCleanTeardown(r);
  });

  test("--xdp drop / pass / tx in guest B: verdicts counted, XDP_TX frames back at the bridge (filtered: B's own address)", async () => {
    const drop = await runDomuDomu({ seed: 1, pktSize: 64, packets: 200, xdp: "drop" });
    expect(drop.packetsDelivered).toBe(0);
    expect(drop.dropped).toBe(200);
    expect(drop.frontendRxPath?.xdpDrop).toBe(200);
    expectCleanTeardown(drop);
    const pass = await runDomuDomu({ seed: 1, pktSize: 64, packets: 200, xdp: "pass", rxBuildSkb: true });
    expectAllDelivered(pass, 200);
    expect([pass.frontendRxPath?.xdpPass, pass.frontendRxPath?.rxBuildSkb]).toEqual([200, 200]);
    expectCleanTeardown(pass);
    const tx = await runDomuDomu({ seed: 1, pktSize: 64, packets: 200, xdp: "tx" });
    expect(tx.packetsDelivered).toBe(0);
    expect(tx.frontendRxPath?.xdpTx).toBe(200);
    expect(tx.bridge.filtered).toBe(200);
    expect(tx.counters.receiver.rx_packets).toBe(201); // B's announcement and its 200 XDP_TX frames entered Dom0 through its vif
    expectCleanTeardown(tx);
  });

  test("pvnet run --topology domu-domu --rx-build-skb --xdp pass --json", () => {
    const out = execFileSync(process.execPath, [bin, "run", "--topology", "domu-domu", "--pkt-size", "64", "--packets", "50", "--rx-build-skb", "--xdp", "pass", "--json"], {
      encoding: "utf8",
      cwd: REPO_ROOT,
    });
    const r = JSON.parse(out) as { packetsDelivered: number; frontendRxPath: Record<string, number> };
    expect(r.packetsDelivered).toBe(50);
    expect([r.frontendRxPath.rxBuildSkb, r.frontendRxPath.xdpPass]).toEqual([50, 50]);
  });
});
