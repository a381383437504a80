/**
 * The bulk TCP traffic of `pvnet run --flows N` (iperf -P N) in a topology: @pvnet/host's
 * TcpBulkSender on a VCPU of the sending domain, TcpBulkReceiver behind the receiving driver, the
 * ACKs back through the reverse path of the same vif. The sender holds a segment whose queue is
 * stopped (netif_tx_stop_queue, the qdisc's requeue) and sends it when the queue wakes.
 */
import { type FrameReceiver, type Host, MAX_TCP_FLOWS, TcpBulkReceiver, TcpBulkSender, type TcpReceiverStats, type TcpSenderStats, tcpPayload } from "@pvnet/host";
import type { Vcpu } from "@pvnet/hypervisor";
import type { CostSink } from "@pvnet/sim";
import type { SkBuff, SkbAllocator, SkbComposer } from "@pvnet/skb-model";

export { MAX_TCP_FLOWS };

/** What the TCP phase reports beside the delivery counts. */
export interface TcpReport {
  readonly flows: number;
  /** Payload bytes of one segment (frame size less the Ethernet, IPv4 and TCP headers). */
  readonly segmentPayload: number;
  /** Un-ACKed bytes a flow keeps at most. */
  readonly windowBytes: number;
  /** Every segment sent was ACKed. */
  readonly complete: boolean;
  readonly sender: Readonly<TcpSenderStats>;
  readonly receiver: Readonly<TcpReceiverStats>;
}

export interface TcpEnds {
  readonly host: Host;
  readonly receiver: FrameReceiver;
  readonly flows: number;
  readonly segments: number;
  readonly pktSize: number;
  /** The receivers' socket buffers in all: each flow's window is its share (at least one segment). */
  readonly windowBytes: number;
  /** The sending side: its VCPU, its memory, its driver's start_xmit (false: the queue is stopped). */
  readonly send: { readonly vcpu: Vcpu; readonly composer: SkbComposer; readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean; readonly dstMac?: Uint8Array; readonly srcMac?: Uint8Array };
  /** The receiving side: its memory (the ACKs), its driver's start_xmit on the reverse path, and where its stack's work is charged (`hv.cpuCosts` of its domain). */
  readonly ack: { readonly skbs: SkbAllocator; readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean; readonly costs: CostSink };
}

/** The two ends of the TCP flows: hook `receiver.deliver` to the data path and `sender.receiveAck` to the reverse one. */
export function tcpEnds(e: TcpEnds): { readonly sender: TcpBulkSender; readonly receiver: TcpBulkReceiver; readonly windowBytes: number } {
  const windowBytes = Math.max(tcpPayload(e.pktSize), Math.floor(e.windowBytes / e.flows));
  const sender = new TcpBulkSender({
    hv: e.host.hv,
    vcpu: e.send.vcpu,
    composer: e.send.composer,
    flows: e.flows,
    segments: e.segments,
    pktSize: e.pktSize,
    windowBytes,
    transmit: e.send.transmit,
    ...(e.send.dstMac === undefined ? {} : { dstMac: e.send.dstMac }),
    ...(e.send.srcMac === undefined ? {} : { srcMac: e.send.srcMac }),
  });
  const receiver = new TcpBulkReceiver({ receiver: e.receiver, skbs: e.ack.skbs, transmit: e.ack.transmit, windowBytes, costs: e.ack.costs });
  return { sender, receiver, windowBytes };
}

export function tcpReport(flows: number, pktSize: number, ends: ReturnType<typeof tcpEnds>): TcpReport {
  return {
    flows,
    segmentPayload: tcpPayload(pktSize),
    windowBytes: ends.windowBytes,
    complete: ends.sender.done,
    sender: { ...ends.sender.stats },
    receiver: { ...ends.receiver.stats },
  };
}
