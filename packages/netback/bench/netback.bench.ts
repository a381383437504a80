/**
 * Netback throughput: guest TX (DomU -> Dom0) and guest RX (Dom0 -> DomU) at 64, 1496 and 65535
 * bytes, one queue, driven by the raw test frontend with pre-granted pages (so the frontend's own
 * work stays out of the way). For each configuration: packets/s of this JavaScript model (wall
 * clock, median of 3 rounds) and what the host cost profile predicts for Dom0 (modelled ns per
 * packet from the costs charged to Dom0's VCPUs, deterministic), with hypercalls and grant ops per
 * packet. Writes bench-results/netback.json.
 */
import { NETTXF_csum_blank, NETTXF_extra_info, NETTXF_more_data, newExtraInfo, writeExtraInfo, writeRxRequest, writeTxRequest, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4 } from "@pvnet/netif";
import { CHECKSUM_PARTIAL, SKB_GSO_TCPV4, SkbComposer, type SkbDesc } from "@pvnet/skb-model";
import { benchHost, writeBenchResult } from "@pvnet/testkit";
import { OP_COPY, OP_MAP_GRANT_REF, OP_UNMAP_GRANT_REF } from "@pvnet/xen-grant-table";
import type { HeaderCopyMode, TxHypercallMode } from "../src/index.js";
import { xenvifStartXmit } from "../src/index.js";
import { makeFrame, makeTcpFrame, World } from "../test/harness.js";

const SIZES = [64, 1496, 65535] as const;
/** Packets per round, per size: enough for a stable rate, small enough to stay well under a minute. */
const PACKETS: Record<number, number> = { 64: 20000, 1496: 10000, 65535: 600 };
const ROUNDS = 3;
/** Packets queued per push (the ring has 256 slots; a 65535-byte packet takes 17). */
const BURST: Record<number, number> = { 64: 64, 1496: 64, 65535: 8 };

interface Result {
  readonly direction: "tx" | "rx";
  readonly pktSize: number;
  readonly headerCopy?: HeaderCopyMode;
  readonly txHypercalls?: TxHypercallMode;
  readonly modelPpsMedian: number;
  readonly modelPpsRounds: number[];
  readonly modelledDom0NsPerPacket: number;
  readonly modelledMpps: number;
  readonly modelledGbitps: number;
  readonly hypercallsPerPacket: number;
  readonly copyOpsPerPacket: number;
  readonly mapOpsPerPacket: number;
  readonly unmapOpsPerPacket: number;
  readonly delivered: number;
}

function dom0Busy(w: World): number {
  return w.dom0.vcpus.reduce((a, v) => a + v.actor.account.busyNs, 0);
}

/**
 * The figures of one case: the model's packets/s (wall clock, per round), and per packet the Dom0
 * time the profile charged (`busy` ns over `total` packets), what that predicts, and grant ops.
 */
function figures(size: number, rounds: number[], busy: number, total: number, calls: number, copies: number, maps: number, unmaps: number) {
  const nsPerPacket = busy / total;
  return {
    modelPpsMedian: Math.round(median(rounds)),
    modelPpsRounds: rounds.map(Math.round),
    modelledDom0NsPerPacket: Math.round(nsPerPacket),
    modelledMpps: 1000 / nsPerPacket,
    modelledGbitps: (size * 8) / nsPerPacket,
    hypercallsPerPacket: calls / total,
    copyOpsPerPacket: copies / total,
    mapOpsPerPacket: maps / total,
    unmapOpsPerPacket: unmaps / total,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function benchTx(size: number, headerCopy: HeaderCopyMode, txHypercalls: TxHypercallMode): Result {
  const w = new World({ headerCopy, txHypercalls, dom0Vcpus: 1 });
  const fe = w.frontend();
  w.run();
  const gso = size > 1514;
  const frame = gso ? makeTcpFrame(size, 1) : makeFrame(size, 1);
  // One granted page per slot, reused by every packet (the frontend's copying is not measured).
  const refs: number[] = [];
  const lens: number[] = [];
  for (let at = 0; at < size; at += 4096) {
    const n = Math.min(4096, size - at);
    refs.push(fe.grantData(frame.subarray(at, at + n), 0));
    lens.push(n);
  }
  const ring = fe.queues[0]!.tx;
  const extra = { ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 1448, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 };
  let id = 0;
  const rounds: number[] = [];
  const burst = BURST[size] as number;
  const total = PACKETS[size] as number;
  let busy = 0;
  let calls = 0;
  let copies = 0;
  let maps = 0;
  let unmaps = 0;
  let delivered = 0;
  for (let r = 0; r < ROUNDS; r++) {
    w.received.length = 0;
    w.hv.stats.reset();
    const busy0 = dom0Busy(w);
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += burst) {
      for (let p = 0; p < burst && sent + p < total; p++) {
        for (let s = 0; s < refs.length; s++) {
          let flags = s < refs.length - 1 ? NETTXF_more_data : 0;
          if (s === 0 && gso) flags |= NETTXF_extra_info | NETTXF_csum_blank;
          ring.writeRequest(ring.produceRequest(), writeTxRequest, { gref: refs[s] as number, offset: 0, flags, id: id++ & 0xffff, size: s === 0 ? size : (lens[s] as number) });
          if (s === 0 && gso) ring.writeRequest(ring.produceRequest(), writeExtraInfo, extra);
        }
      }
      fe.pushTx();
      w.hv.run({ maxEvents: 1_000_000 });
      while (ring.unconsumedResponses() > 0) ring.consumeResponse();
    }
    rounds.push(total / ((performance.now() - t0) / 1000));
    busy = dom0Busy(w) - busy0;
    calls = w.hv.stats.entries;
    copies = w.hv.stats.get(OP_COPY).ops;
    maps = w.hv.stats.get(OP_MAP_GRANT_REF).ops;
    unmaps = w.hv.stats.get(OP_UNMAP_GRANT_REF).ops;
    delivered = w.received.length;
  }
  return {
    direction: "tx",
    pktSize: size,
    headerCopy,
    txHypercalls,
    ...figures(size, rounds, busy, total, calls, copies, maps, unmaps),
    delivered,
  };
}

function benchRx(size: number): Result {
  const w = new World({ dom0Vcpus: 1 });
  const fe = w.frontend();
  w.run();
  // Post 256 buffers once; re-post the same grants as responses come back.
  fe.postRx(256);
  w.run();
  const rxRing = fe.queues[0]!.rx;
  const buffers = [...fe.rxBuffers.entries()];
  const composer = new SkbComposer(w.skbs);
  const desc: SkbDesc =
    size > 4096
      ? { linearLen: size - 15 * 4096, frags: Array.from({ length: 15 }, () => ({ size: 4096 })), gso: { size: 1448, type: SKB_GSO_TCPV4 } }
      : { linearLen: size };
  const payload = makeFrame(size, 2);
  const burst = BURST[size] as number;
  const total = PACKETS[size] as number;
  const rounds: number[] = [];
  let busy = 0;
  let calls = 0;
  let copies = 0;
  let next = 0;
  for (let r = 0; r < ROUNDS; r++) {
    w.hv.stats.reset();
    const busy0 = dom0Busy(w);
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += burst) {
      for (let p = 0; p < burst && sent + p < total; p++) {
        const skb = composer.compose(desc, payload);
        if (skb === null) throw new Error("compose failed");
        if (size > 4096) skb.ipSummed = CHECKSUM_PARTIAL;
        xenvifStartXmit(fe.vif, skb, 0);
      }
      w.hv.run({ maxEvents: 1_000_000 });
      let n = 0;
      while (rxRing.unconsumedResponses() > 0) {
        rxRing.consumeResponse();
        n++;
      }
      for (let i = 0; i < n; i++) {
        const [bid, b] = buffers[next++ % buffers.length] as [number, { ref: number }];
        rxRing.writeRequest(rxRing.produceRequest(), writeRxRequest, { id: bid, gref: b.ref });
      }
      if (rxRing.pushRequestsAndCheckNotify()) w.hv.evtchnSend(fe.vcpu, fe.queues[0]!.rxPort);
      w.hv.run({ maxEvents: 1_000_000 });
    }
    rounds.push(total / ((performance.now() - t0) / 1000));
    busy = dom0Busy(w) - busy0;
    calls = w.hv.stats.entries;
    copies = w.hv.stats.get(OP_COPY).ops;
  }
  return {
    direction: "rx",
    pktSize: size,
    ...figures(size, rounds, busy, total, calls, copies, 0, 0),
    delivered: fe.vif.counters().tx_packets,
  };
}

const started = performance.now();
const results: Result[] = [];
for (const size of SIZES) {
  for (const [hc, mode] of [
    ["multi-slot", "two"],
    ["multi-slot", "multicall"],
    ["first-slot", "two"],
  ] as const) {
    results.push(benchTx(size, hc, mode));
  }
  results.push(benchRx(size));
}
const byKey = (d: string, s: number, hc?: string, m?: string) =>
  results.find((r) => r.direction === d && r.pktSize === s && r.headerCopy === hc && r.txHypercalls === m) as Result;
const ratios = SIZES.map((s) => ({
  pktSize: s,
  multicallVsTwoModelledNs: byKey("tx", s, "multi-slot", "multicall").modelledDom0NsPerPacket / byKey("tx", s, "multi-slot", "two").modelledDom0NsPerPacket,
  firstSlotVsMultiSlotModelledNs: byKey("tx", s, "first-slot", "two").modelledDom0NsPerPacket / byKey("tx", s, "multi-slot", "two").modelledDom0NsPerPacket,
}));
const out = {
  bench: "netback",
  description: "guest TX and RX through netback, one queue, Dom0 on one VCPU; model pps is wall clock of this JS model, modelled figures from the xeon-e5-1650v2 cost profile",
  host: benchHost(),
  seconds: (performance.now() - started) / 1000,
  results,
  ratios,
};
const path = writeBenchResult("netback", out);
for (const r of results) {
  console.log(
    `${r.direction} ${String(r.pktSize).padStart(5)} ${(r.headerCopy ?? "").padEnd(10)} ${(r.txHypercalls ?? "").padEnd(9)} model ${String(r.modelPpsMedian).padStart(7)} pps | modelled ${r.modelledDom0NsPerPacket} ns/pkt = ${r.modelledMpps.toFixed(3)} Mpps ${r.modelledGbitps.toFixed(2)} Gbit/s | hc/pkt ${r.hypercallsPerPacket.toFixed(2)} copy ${r.copyOpsPerPacket.toFixed(2)} map ${r.mapOpsPerPacket.toFixed(2)}`,
  );
}
console.log(`wrote ${path} in ${out.seconds.toFixed(1)} s`);
