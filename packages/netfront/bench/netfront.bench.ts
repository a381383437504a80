// netfront TX and RX against the minimal test backend, in deterministic mode, for 64, 1496 and
// 65535-byte (GSO) packets, plus the 51-slot worst case against an ordinary packet of the
// same length (the price of straightening). For each case: wall-clock packets/s of this
// JavaScript model (whole simulation: netfront, test backend, grant copies, scheduler) and the
// modelled cost per packet charged to the guest's VCPUs by the Xeon E5-1650 v2 host profile
// (deterministic), with notifications per packet. Writes bench-results/netfront.json.
import { performance } from "node:perf_hooks";
import { XEN_NETIF_GSO_TYPE_TCPV4 } from "@pvnet/netif";
import { CHECKSUM_PARTIAL, SEED5_WORST_CASE, type SkBuff, type SkbDesc, SKB_GSO_TCPV4, skbDescLen } from "@pvnet/skb-model";
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { NETDEV_TX_OK } from "../src/index.js";
import { frame, makeWorld, type World } from "../test/world.js";

/** Packets per case: each case runs a few seconds at most on the 2-core development machine. */
const PACKETS: Record<number, number> = { 64: 100_000, 1496: 100_000, 65535: 10_000 };
/** Packets handed to the driver between two runs of the simulation (pktgen burst). */
const BURST = 32;

function guestBusyNs(w: World): number {
  let ns = 0;
  for (const v of w.domU.vcpus) ns += v.actor.account.busyNs;
  return ns;
}

function descFor(size: number): SkbDesc {
  if (size <= 4000) return { linearLen: size };
  // GSO: headers linear, payload in page frags.
  const frags = [];
  let left = size - 66;
  while (left > 0) {
    const n = Math.min(4096, left);
    frags.push({ size: n, offset: 0, order: 0 });
    left -= n;
  }
  return { linearLen: 66, frags, gso: { size: 1448, type: SKB_GSO_TCPV4 } };
}

interface CaseResult {
  packets: number;
  wallSeconds: number;
  pps: number;
  modelledGuestNsPerPacket: number;
  notifiesPerPacket: number;
  slotsPerPacket: number;
}

/** TX: one skb resent with clone_skbs semantics (skb_get per send), bursts of BURST. */
function tx(desc: SkbDesc, packets: number): CaseResult {
  const w = makeWorld({ seed: 1 });
  w.run();
  const len = skbDescLen(desc);
  const skb = w.composer.compose(desc, frame(len, 1, 0, 6)) as SkBuff;
  if (desc.gso) skb.ipSummed = CHECKSUM_PARTIAL;
  const busy0 = guestBusyNs(w);
  const t0 = performance.now();
  let sent = 0;
  while (sent < packets) {
    for (let i = 0; i < BURST && sent < packets && !w.fe.isQueueStopped(0); i++, sent++) {
      if (w.fe.startXmit(skb.get()) !== NETDEV_TX_OK) throw new Error("busy");
    }
    w.hv.run();
  }
  const wall = (performance.now() - t0) / 1000;
  const st = w.fe.stats();
  if (st.txPackets !== packets || w.be.packets.length !== packets) throw new Error(`tx: ${st.txPackets} sent, ${w.be.packets.length} received`);
  const slots = st.txRequests / packets;
  w.be.packets.length = 0;
  skb.free();
  return {
    packets,
    wallSeconds: wall,
    pps: packets / wall,
    modelledGuestNsPerPacket: (guestBusyNs(w) - busy0) / packets,
    notifiesPerPacket: st.txNotifies / packets,
    slotsPerPacket: slots,
  };
}

/** RX: the backend fills posted buffers, bursts of BURST (fewer for 64 KiB packets: 17 slots each). */
function rx(size: number, packets: number): CaseResult {
  const w = makeWorld({ seed: 1 });
  w.run();
  const data = frame(size, 2, 0, 6);
  const gso = size > 4000 ? { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } : undefined;
  const burst = gso ? 8 : BURST;
  let delivered = 0;
  const busy0 = guestBusyNs(w);
  const t0 = performance.now();
  let sent = 0;
  while (sent < packets) {
    for (let i = 0; i < burst && sent < packets; i++, sent++) {
      if (!w.be.sendRx(data, gso ? { gso } : {})) throw new Error("no rx buffers");
    }
    w.hv.run();
    for (const skb of w.received) {
      delivered += skb.len;
      skb.free();
    }
    w.received.length = 0;
  }
  const wall = (performance.now() - t0) / 1000;
  const st = w.fe.stats();
  if (st.rxPackets !== packets || delivered !== packets * size) throw new Error(`rx: ${st.rxPackets} delivered`);
  return {
    packets,
    wallSeconds: wall,
    pps: packets / wall,
    modelledGuestNsPerPacket: (guestBusyNs(w) - busy0) / packets,
    notifiesPerPacket: (st.rxNotifies + st.interrupts) / packets,
    slotsPerPacket: st.rxRequests / packets,
  };
}

const result: Record<string, unknown> = {
  what: "netfront against a minimal test backend, deterministic mode; wall = this JS model, modelled = guest VCPU cost (xeon-e5-1650v2 profile)",
  host: benchHost(),
  burst: BURST,
  tx: {} as Record<string, CaseResult>,
  rx: {} as Record<string, CaseResult>,
};
for (const size of [64, 1496, 65535]) {
  (result.tx as Record<string, CaseResult>)[size] = tx(descFor(size), PACKETS[size] as number);
  (result.rx as Record<string, CaseResult>)[size] = rx(size, PACKETS[size] as number);
}
// Straightening: the 51-slot worst case against a 61544-byte packet already in 16 aligned frags.
const worst = tx(SEED5_WORST_CASE, 3_000);
const plainLen = skbDescLen(SEED5_WORST_CASE);
const plain = tx({ linearLen: 66, frags: descFor(plainLen).frags ?? [] }, 3_000);
result.straighten = {
  worstCase: worst,
  plainSameLength: plain,
  modelledCostRatio: worst.modelledGuestNsPerPacket / plain.modelledGuestNsPerPacket,
  wallRatio: plain.pps / worst.pps,
};
const path = writeBenchResult("netfront", result);
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${path}`);
