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
import { DEFAULT_WINDOW_BYTES } from "./devices.js";

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
  /**
   * The run's --flows, --packets (segments in all), --pkt-size and --window-bytes: the receivers'
   * socket buffers in all (DEFAULT_WINDOW_BYTES if unset), each flow's window its share (at least
   * one segment).
   */
  readonly traffic: { readonly flows: number; readonly packets: number; readonly pktSize: number; readonly windowBytes?: number };
  /** The sending side: its VCPU, its memory, its driver's start_xmit (false: the queue is stopped). */
  readonly send: { readonly vcpu: Vcpu; readonly composer: SkbComposer; readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean; readonly dstMac?: Uint8Array; readonly srcMac?: Uint8Array };
  /** The receiving side: its memory (the ACKs), its driver's start_xmit on the reverse path, and where its stack's work is charged (`hv.cpuCosts` of its domain). */
  readonly ack: { readonly skbs: SkbAllocator; readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean; readonly costs: CostSink };
}

/** The two ends of the TCP flows, and the sender as the run's generator. */
export interface TcpFlows {
  readonly sender: TcpBulkSender;
  readonly receiver: TcpBulkReceiver;
  readonly windowBytes: number;
  /** What the traffic phase drives: segments sent, start or wake, drop what is held. */
  readonly generator: { readonly sent: number; wake(): void; finish(): void };
}

/** The two ends of the TCP flows: hook `receiver.deliver` to the data path and `sender.receiveAck` to the reverse one. */
export function tcpEnds(e: TcpEnds): TcpFlows {
  const { flows, packets, pktSize } = e.traffic;
  const windowBytes = Math.max(tcpPayload(pktSize), Math.floor((e.traffic.windowBytes ?? DEFAULT_WINDOW_BYTES) / flows));
  const sender = new TcpBulkSender({
    hv: e.host.hv,
    vcpu: e.send.vcpu,
    composer: e.send.composer,
    flows,
    segments: packets,
    pktSize,
    windowBytes,
    transmit: e.send.transmit,
    ...(e.send.dstMac === undefined ? {} : { dstMac: e.send.dstMac }),
    ...(e.send.srcMac === undefined ? {} : { srcMac: e.send.srcMac }),
  });
  const receiver = new TcpBulkReceiver({ receiver: e.receiver, skbs: e.ack.skbs, transmit: e.ack.transmit, windowBytes, costs: e.ack.costs });
  const generator = {
    get sent() {
      return sender.stats.segments;
    },
    wake: () => sender.wake(),
    finish: () => sender.finish(),
  };
  return { sender, receiver, windowBytes, generator };
}

/** What a run reports of its TCP flows. */
export function tcpReport(flows: number, pktSize: number, ends: TcpFlows): TcpReport {
  return {
    flows,
    segmentPayload: tcpPayload(pktSize),
    windowBytes: ends.windowBytes,
    complete: ends.sender.done,
    sender: { ...ends.sender.stats },
    receiver: { ...ends.receiver.stats },
  };
}
