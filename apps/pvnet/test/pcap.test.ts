/**
 * `--pcap DIR`: the capture files of a run decode with tshark (Wireshark's command line) with no
 * malformed frame and no expert warning or error, IPv4 and UDP checksums checked, and the file of
 * the receiving direction holds exactly the frames delivered. Skipped, saying so, where tshark is
 * not installed (CI installs it).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { runDomuDom0 } from "../src/topology/domu-dom0.js";
import { runDomuDomu } from "../src/topology/domu-domu.js";

const hasTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasTshark) console.warn("pcap.test.ts: tshark is not installed (apt-get install tshark): the decode tests are skipped");

const dirs: string[] = [];
function captureDir(): string {
  const d = mkdtempSync(join(tmpdir(), "pvnet-pcap-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** tshark's verdict on a file: frames, protocol stacks seen, and frames with a problem. */
function decode(path: string): { frames: number; protocols: Set<string>; problems: string[] } {
  const tshark = (args: string[]) =>
    execFileSync("tshark", ["-n", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-r", path, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const lines = tshark(["-T", "fields", "-e", "frame.protocols"]).split("\n").filter((l) => l !== "");
  const problems = tshark(["-Y", "_ws.malformed || _ws.expert.severity >= warning", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"])
    .split("\n")
    .filter((l) => l !== "");
  return { frames: lines.length, protocols: new Set(lines), problems };
}

describe.skipIf(!hasTshark)("--pcap: the capture decodes with tshark, one file per vif and direction", () => {
  test.each([
    ["tx", 1496, 300, "eth:ethertype:ip:udp:data"],
    ["tx", 65535, 20, "eth:ethertype:ip:tcp:data"],
    ["rx", 64, 300, "eth:ethertype:ip:udp:data"],
  ] as const)("domu-dom0 %s, %i-byte frames", async (direction, pktSize, packets, stack) => {
    const pcap = captureDir();
    const r = await runDomuDom0({ direction, seed: 3, pktSize, packets, pcap });
    expect(r.packetsDelivered).toBe(packets);
    expect(r.pcap).toEqual([{ path: join(pcap, `vif1.0-${direction}.pcap`), packets }]);
    const d = decode(join(pcap, `vif1.0-${direction}.pcap`));
    expect(d.problems).toEqual([]);
    expect(d.frames).toBe(r.packetsDelivered);
    expect([...d.protocols]).toEqual([stack]);
  });

  test("domu-domu: guest A's TX and guest B's RX hold every frame, B's gratuitous ARP the other two", async () => {
    const pcap = captureDir();
    const r = await runDomuDomu({ seed: 4, pktSize: 600, packets: 200, queues: 2, pcap });
    expect(r.packetsDelivered).toBe(200);
    const files = Object.fromEntries((r.pcap ?? []).map((f) => [f.path.slice(pcap.length + 1), f.packets]));
    expect(files).toEqual({ "vif1.0-tx.pcap": 200, "vif2.0-rx.pcap": 200, "vif2.0-tx.pcap": 1, "vif1.0-rx.pcap": 1 });
    for (const [name, frames] of Object.entries(files)) {
      const d = decode(join(pcap, name));
      expect(d.problems, name).toEqual([]);
      expect(d.frames, name).toBe(frames);
      expect([...d.protocols], name).toEqual([frames === 1 ? "eth:ethertype:arp" : "eth:ethertype:ip:udp:data"]);
    }
  });
});
