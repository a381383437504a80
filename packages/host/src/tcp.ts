/**
 * Bulk TCP flows, as `iperf -P N` drives them: each flow's sender builds TSO/GSO segments (real
 * Ethernet/IPv4/TCP headers, byte sequence numbers, a partial checksum as tcp_v4_send_check
 * leaves it for the device: CHECKSUM_PARTIAL with the pseudo-header sum in th->check, which
 * netfront turns into NETTXF_csum_blank | NETTXF_data_validated and netback into
 * XEN_NETRXF_csum_blank | data_validated), keeps at most its window un-ACKed, and holds a segment
 * the driver refuses (netif_tx_stop_queue: the qdisc requeues it) until the queue wakes. The
 * receiver verifies every segment (byte-exact, in order per flow) and answers each with a
 * cumulative ACK on the reverse path, which opens the sender's window.
 *
 * What is modelled of TCP: sequence and ACK numbers, a fixed window per flow, one ACK per
 * received segment (a GRO'd 64 KiB segment is more than one full frame, so __tcp_ack_snd_check
 * ACKs at once), and the stacks' work, charged to the VCPU that does it: the sender's
 * tcp_sendmsg (`tcp.sendmsg`, the payload's copy_from_user as `usercopy`, `tcp.xmit`) on its own
 * VCPU, the receiver's IP layer (`netif.receive`), `tcp.rcv`, the payload's copy_to_user and
 * its ACK's `tcp.xmit` on the VCPU that delivers the segment (iperf's reader on the CPU that takes
 * the interrupt, as in a guest with one VCPU per queue), and the sender's `netif.receive` and
 * `tcp.ack` for each ACK where the ACK is delivered. Not modelled: congestion control (slow
 * start, cwnd; the window is the limit), loss and retransmission (the topologies do not drop),
 * SACK, timestamps, delayed ACKs, and the reader's wake-ups.
 *
 * Public sources: RFC 793 (header, sequence space), RFC 1071 (the checksum), Linux
 * net/ipv4/tcp_output.c (tcp_v4_send_check / __tcp_v4_send_check), net/ipv4/tcp_input.c
 * (__tcp_ack_snd_check), include/linux/netdevice.h (netif_tx_stop_queue / netif_tx_wake_queue).
 */
import type { Hypervisor, Vcpu } from "@pvnet/hypervisor";
import type { CostSink, Prng } from "@pvnet/sim";
import { type SkBuff, type SkbAllocator, type SkbComposer, SKB_GSO_TCPV4, type SkbDesc } from "@pvnet/skb-model";
import { ETH_HLEN, ETH_P_IP, IPPROTO_TCP, IPV4_HLEN, ipv4HeaderChecksum, minFrameSize, TCP_HLEN, writeFrame } from "./frame.js";
import { COST_NETIF_RECEIVE, GSO_MSS, MAX_LINEAR_FRAME } from "./generator.js";
import type { FrameReceiver } from "./generator.js";

/** Profile cost of tcp_sendmsg's per-skb work beside the copy (each unit's source is in the host profile). */
export const COST_TCP_SENDMSG = "tcp.sendmsg";
/** Profile cost of one skb from TCP to the driver: __tcp_transmit_skb, ip_queue_xmit, __dev_queue_xmit (data and ACKs). */
export const COST_TCP_XMIT = "tcp.xmit";
/** Profile cost of receiving one segment beside the IP layer and the copy: tcp_v4_rcv, tcp_rcv_established, tcp_recvmsg's per-skb part. */
export const COST_TCP_RCV = "tcp.rcv";
/** Profile cost of a pure ACK at the sender beside the IP layer: tcp_ack and its clean-up. */
export const COST_TCP_ACK = "tcp.ack";
/** copy_from_user / copy_to_user of a segment's payload (per byte). */
export const COST_USERCOPY = "usercopy";

/** iperf's default port (iperf 2: 5001), the destination port of every data segment. */
export const IPERF_PORT = 5001;
/** First source port of the flows when no ports are given (frame.ts's TCP source port is 40000 + flow). */
const FLOW_PORT_BASE = 40000;
/** Bound on flows of one run: the sink tracks at most MAX_FLOWS. */
export const MAX_TCP_FLOWS = 4096;
/** The sender's and the receiver's IPv4 addresses (10.0.0.1 -> 10.128.0.1): every flow joins the same two hosts, as iperf -P N does. */
const IPERF_SRC_ADDR = 0x0a000001;
const IPERF_DST_ADDR = 0x0a800001;
/** net.ipv4.ip_local_port_range's default, 32768..60999: where connect() picks source ports. */
const EPHEMERAL_LOW = 32768;
const EPHEMERAL_HIGH = 60999;

/**
 * The source ports `flows` connect() calls to one destination get from Linux (__inet_hash_connect
 * since 5.12, net/ipv4/inet_hashtables.c): a start of even parity in ip_local_port_range from the
 * secret per-destination offset (drawn here from `prng`), and after each connection the
 * perturbation moves on by 2 plus 2 * a random 0..7, so successive ports climb in even steps of
 * 2 to 16, wrapping in the range. A port already taken moves on by 2.
 */
export function ephemeralPorts(flows: number, prng: Prng): number[] {
  const remaining = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
  let offset = prng.below(remaining) & ~1;
  const used = new Set<number>();
  const ports: number[] = [];
  for (let k = 0; k < flows; k++) {
    let port = EPHEMERAL_LOW + (offset % remaining);
    for (let n = 0; used.has(port) && n < remaining; n++) port = EPHEMERAL_LOW + ((port - EPHEMERAL_LOW + 2) % remaining);
    used.add(port);
    ports.push(port);
    offset = port - EPHEMERAL_LOW + 2 + 2 * prng.below(8);
  }
  return ports;
}
/** An ACK frame: Ethernet + IPv4 + TCP, padded to the Ethernet minimum (ETH_ZLEN, 60 bytes). */
export const ACK_FRAME = 60;
/** TCP header flags. */
const TCP_FLAG_ACK = 0x10;
/** Linear bytes of a GSO segment (headers and stamp); frags of 32 KiB compound pages, as a socket's page_frag gives. */
const GSO_LINEAR = 70;
const GSO_FRAG = 32768;
/** Segments a sender puts on the wire per step of its VCPU before it yields (the stack's xmit_more batching is not modelled). */
const SEGMENTS_PER_STEP = 4;

/** TCP payload bytes of a segment of `pktSize` bytes (frame size, headers included). */
export function tcpPayload(pktSize: number): number {
  return pktSize - ETH_HLEN - IPV4_HLEN - TCP_HLEN;
}

/** The layout of a TCP segment of `pktSize` bytes: linear up to the MTU, else a GSO skb of MSS-sized segments. */
export function tcpSegmentLayout(pktSize: number): SkbDesc {
  if (pktSize <= MAX_LINEAR_FRAME) return { linearLen: pktSize };
  const frags = [];
  for (let left = pktSize - GSO_LINEAR; left > 0; left -= GSO_FRAG) frags.push({ size: Math.min(left, GSO_FRAG), offset: 0, order: 3 });
  return { linearLen: GSO_LINEAR, frags, gso: { size: GSO_MSS, type: SKB_GSO_TCPV4 } };
}

function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

function put32(buf: Uint8Array, off: number, v: number): void {
  put16(buf, off, v >>> 16);
  put16(buf, off + 2, v & 0xffff);
}

function get16(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

function get32(buf: Uint8Array, off: number): number {
  return ((get16(buf, off) << 16) | get16(buf, off + 2)) >>> 0;
}

/**
 * ~tcp_v4_check(len, saddr, daddr, 0): the folded pseudo-header sum (RFC 1071 over saddr, daddr,
 * protocol, TCP length) that __tcp_v4_send_check stores in th->check for CHECKSUM_PARTIAL.
 */
export function tcpPseudoHeaderSum(frame: Uint8Array, tcpLen: number): number {
  const ip = ETH_HLEN;
  let sum = get16(frame, ip + 12) + get16(frame, ip + 14) + get16(frame, ip + 16) + get16(frame, ip + 18) + IPPROTO_TCP + tcpLen;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Offset of the TCP header and of its checksum field in a frame. */
const TCP_OFF = ETH_HLEN + IPV4_HLEN;
const TCP_CHECK = TCP_OFF + 16;

/** What a parsed ACK frame says. */
export interface TcpAck {
  readonly flow: number;
  readonly ack: number;
}

/**
 * Read an ACK frame `frame[0, len)` for a flow of these senders: null when it is not one. The flow
 * is the one whose source port the ACK goes to: `flowOfPort` when given (the sender's ephemeral
 * ports), else 40000 + flow.
 */
export function parseTcpAck(frame: Uint8Array, len: number, flowOfPort?: ReadonlyMap<number, number>): TcpAck | null {
  if (len < ETH_HLEN + IPV4_HLEN + TCP_HLEN || get16(frame, 12) !== ETH_P_IP || frame[ETH_HLEN] !== 0x45 || frame[ETH_HLEN + 9] !== IPPROTO_TCP) return null;
  if (((frame[TCP_OFF + 13] as number) & TCP_FLAG_ACK) === 0 || get16(frame, TCP_OFF) !== IPERF_PORT) return null;
  const port = get16(frame, TCP_OFF + 2);
  const flow = flowOfPort === undefined ? port - FLOW_PORT_BASE : (flowOfPort.get(port) ?? -1);
  if (flow < 0 || flow >= MAX_TCP_FLOWS) return null;
  return { flow, ack: get32(frame, TCP_OFF + 8) };
}

/**
 * Write the ACK of `flow` for `ack` bytes into `buf[0, ACK_FRAME)`: from the receiver (the data's
 * destination) back to the sender, addresses and ports swapped, window `window`, the
 * pseudo-header sum in th->check (the ACK leaves with CHECKSUM_PARTIAL too).
 */
export function writeTcpAck(buf: Uint8Array, data: Uint8Array, ack: number, window: number): void {
  buf.fill(0, 0, ACK_FRAME);
  buf.set(data.subarray(6, 12), 0);
  buf.set(data.subarray(0, 6), 6);
  put16(buf, 12, ETH_P_IP);
  const ip = ETH_HLEN;
  buf[ip] = 0x45;
  put16(buf, ip + 2, IPV4_HLEN + TCP_HLEN);
  buf[ip + 6] = 0x40; // DF
  buf[ip + 8] = 64;
  buf[ip + 9] = IPPROTO_TCP;
  buf.set(data.subarray(ip + 16, ip + 20), ip + 12);
  buf.set(data.subarray(ip + 12, ip + 16), ip + 16);
  put16(buf, ip + 10, ipv4HeaderChecksum(buf, ip));
  put16(buf, TCP_OFF, get16(data, TCP_OFF + 2));
  put16(buf, TCP_OFF + 2, get16(data, TCP_OFF));
  put32(buf, TCP_OFF + 8, ack >>> 0);
  buf[TCP_OFF + 12] = (TCP_HLEN / 4) << 4;
  buf[TCP_OFF + 13] = TCP_FLAG_ACK;
  put16(buf, TCP_OFF + 14, Math.min(0xffff, window));
  put16(buf, TCP_CHECK, tcpPseudoHeaderSum(buf, TCP_HLEN));
}

/** One flow's sender state (tcp_sock's snd_una / snd_nxt, in segments and bytes). */
interface FlowSender {
  /** Segments built so far (the next one's stamp sequence number). */
  segments: number;
  /** Bytes sent (snd_nxt) and cumulatively ACKed (snd_una). */
  sndNxt: number;
  sndUna: number;
  /** A segment the driver refused (its queue stopped): sent first when the queue wakes. */
  held: SkBuff | null;
}

/** What a bulk TCP sender needs: the hypervisor, the sending VCPU and stack, its flows and window. */
export interface TcpSenderConfig {
  readonly hv: Hypervisor;
  /** The VCPU iperf's sending thread runs on. */
  readonly vcpu: Vcpu;
  /** Builds each segment in the sending domain's memory. */
  readonly composer: SkbComposer;
  readonly flows: number;
  /** Segments to send in all, handed out to the flows in turn (flow = index mod flows). */
  readonly segments: number;
  /** Frame size of a segment, headers included (at most 64 KiB - 1: XEN_NETIF_MAX_TX_SIZE). */
  readonly pktSize: number;
  /** Un-ACKed payload bytes a flow keeps at most (its window); at least one segment. */
  readonly windowBytes: number;
  /** MAC addresses of the data segments (default: frame.ts's per-flow ones). */
  readonly dstMac?: Uint8Array;
  readonly srcMac?: Uint8Array;
  /** ndo_start_xmit: true when the driver took the skb; false (the queue is stopped) leaves it ours. */
  readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean;
}

/** Counters of a sender. */
export interface TcpSenderStats {
  segments: number;
  bytes: number;
  acks: number;
  /** Segments a stopped queue refused (held, resent on wake). */
  requeued: number;
  /** Steps that found every flow's window full. */
  windowFull: number;
  /** ACK frames that were not one of these flows' (freed). */
  badAcks: number;
}

/** iperf's sending side: N flows of segments, window-limited, held on stopped queues. */
export class TcpBulkSender {
  readonly stats: TcpSenderStats = { segments: 0, bytes: 0, acks: 0, requeued: 0, windowFull: 0, badAcks: 0 };
  private readonly flowState: FlowSender[];
  private readonly payload: Uint8Array;
  private readonly desc: SkbDesc;
  private readonly segBytes: number;
  private readonly window: number;
  private readonly ackFrame = new Uint8Array(ACK_FRAME);
  private nextFlow = 0;
  private scheduled = false;
  private readonly stepOn = (v: Vcpu): void => this.step(v);
  /** Each flow's source port (what connect() gave iperf's sockets), and the flow of each port. */
  readonly ports: readonly number[];
  private readonly flowOfPort = new Map<number, number>();

  constructor(private readonly config: TcpSenderConfig) {
    const { flows, pktSize, segments } = config;
    if (!Number.isInteger(flows) || flows < 1 || flows > MAX_TCP_FLOWS) throw new RangeError(`flows must be 1..${MAX_TCP_FLOWS}`);
    if (!Number.isInteger(pktSize) || pktSize < minFrameSize("tcp") || pktSize > 0xffff) throw new RangeError(`a TCP segment is ${minFrameSize("tcp")}..65535 bytes`);
    if (!Number.isInteger(segments) || segments < 1) throw new RangeError("segments must be at least 1");
    this.desc = tcpSegmentLayout(pktSize);
    this.payload = new Uint8Array(pktSize);
    this.segBytes = tcpPayload(pktSize);
    this.window = Math.max(this.segBytes, config.windowBytes);
    this.flowState = Array.from({ length: flows }, () => ({ segments: 0, sndNxt: 0, sndUna: 0, held: null }));
    this.ports = ephemeralPorts(flows, config.hv.sim.prng.fork("tcp-ephemeral-ports"));
    for (const [f, port] of this.ports.entries()) this.flowOfPort.set(port, f);
  }

  /** Segments flow `f` sends in all. */
  private quota(f: number): number {
    const { segments, flows } = this.config;
    return Math.floor(segments / flows) + (f < segments % flows ? 1 : 0);
  }

  /** Every segment sent and ACKed. */
  get done(): boolean {
    return this.flowState.every((s, f) => s.sndUna === this.quota(f) * this.segBytes);
  }

  /** Schedule a step on the sender's VCPU (start, an ACK, a queue that woke). */
  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const { hv, vcpu } = this.config;
    hv.runOn(vcpu, Math.max(hv.sim.clock.now(), vcpu.actor.nowNs), this.stepOn);
  }

  /**
   * The sender's receive hook for the reverse path, on `cpu` (the VCPU the ACK is delivered on,
   * charged the IP layer and tcp_ack): consumes the skb; an ACK opens its flow's window.
   */
  receiveAck(skb: SkBuff, cpu?: CostSink): void {
    cpu?.charge(COST_NETIF_RECEIVE);
    cpu?.charge(COST_TCP_ACK);
    const len = Math.min(skb.len, ACK_FRAME);
    skb.copyBits(0, this.ackFrame, 0, len);
    skb.free();
    const a = parseTcpAck(this.ackFrame, len, this.flowOfPort);
    const s = a === null ? undefined : this.flowState[a.flow];
    if (a === null || s === undefined || a.ack > s.sndNxt) {
      this.stats.badAcks++;
      return;
    }
    this.stats.acks++;
    if (a.ack > s.sndUna) {
      s.sndUna = a.ack;
      this.wake();
    }
  }

  private step(v: Vcpu): void {
    this.scheduled = false;
    const n = this.flowState.length;
    let sent = 0;
    let blocked = 0;
    // Round robin over the flows from where the last step stopped.
    for (let i = 0; i < n && sent < SEGMENTS_PER_STEP; i++) {
      const f = (this.nextFlow + i) % n;
      const s = this.flowState[f] as FlowSender;
      let skb = s.held;
      s.held = null;
      if (skb === null) {
        if (s.segments >= this.quota(f)) continue;
        if (s.sndNxt - s.sndUna + this.segBytes > this.window) {
          blocked++;
          continue; // an ACK calls wake()
        }
        skb = this.build(f, s);
        if (skb === null) break; // out of memory: retry on the next step
        // tcp_sendmsg: the skb's bookkeeping and iperf's payload copied in, then tcp_write_xmit.
        v.charge(COST_TCP_SENDMSG);
        v.charge(COST_USERCOPY, this.segBytes);
        v.charge(COST_TCP_XMIT);
      }
      if (!this.config.transmit(skb, v)) {
        s.held = skb; // NETDEV_TX_BUSY: the queue's wake calls wake()
        this.stats.requeued++;
        continue;
      }
      sent++;
      this.stats.segments++;
      this.stats.bytes += skb.len;
      this.nextFlow = (f + 1) % n;
    }
    if (sent === 0 && blocked > 0) this.stats.windowFull++;
    if (sent > 0) this.wake();
  }

  /** The next segment of flow `f`: stamped frame, byte sequence number, partial checksum, GSO. */
  private build(f: number, s: FlowSender): SkBuff | null {
    const c = this.config;
    const buf = this.payload;
    writeFrame(buf, {
      flow: f,
      seq: s.segments,
      size: c.pktSize,
      l4: "tcp",
      tcpSeq: s.sndNxt,
      srcAddr: IPERF_SRC_ADDR,
      dstAddr: IPERF_DST_ADDR,
      srcPort: this.ports[f] as number,
      ...(c.dstMac === undefined ? {} : { dstMac: c.dstMac }),
      ...(c.srcMac === undefined ? {} : { srcMac: c.srcMac }),
    });
    buf[ETH_HLEN + 6] = 0x40; // DF, as TCP sets it
    put16(buf, ETH_HLEN + 10, ipv4HeaderChecksum(buf, ETH_HLEN));
    put16(buf, TCP_CHECK, tcpPseudoHeaderSum(buf, c.pktSize - TCP_OFF));
    const skb = c.composer.compose(this.desc, buf);
    if (skb === null) return null;
    // tcp_v4_send_check: the device completes the checksum from csum_start (the TCP header).
    skb.partialCsumSet(TCP_OFF, 16);
    skb.protocol = ETH_P_IP;
    s.segments++;
    s.sndNxt += this.segBytes;
    return skb;
  }

  /** Drop what the sender still holds (segments refused by a stopped queue at the end of a run). */
  finish(): void {
    for (const s of this.flowState) {
      s.held?.free();
      s.held = null;
    }
  }
}

/** What a bulk TCP receiver needs: the verifying sink and the path its ACKs go back on. */
export interface TcpReceiverConfig {
  /** The verifying sink the data goes to (counts, per-flow order, byte-exact). */
  readonly receiver: FrameReceiver;
  /** The receiving domain's skbs (the ACKs are built there). */
  readonly skbs: SkbAllocator;
  /** Send an ACK on the reverse path from `vcpu` (the receive softirq's): true when the driver took it. */
  readonly transmit: (skb: SkBuff, vcpu: Vcpu) => boolean;
  /** The window the ACKs advertise (bytes; shown in th->window, capped at 65535: no window scaling). */
  readonly windowBytes: number;
  /**
   * Where the receiving stack's work is charged: the receiving domain's running VCPU
   * (`hv.cpuCosts(domain)`); by default the VCPU `deliver` is given.
   */
  readonly costs?: CostSink;
}

/** Counters of a receiver. */
export interface TcpReceiverStats {
  acksSent: number;
  /** ACKs a stopped queue (or no memory) refused: the flow's latest ACK is resent when the queue wakes. */
  acksDeferred: number;
  /** Segments whose sequence number was not the next expected (the ACK repeats rcv_nxt). */
  outOfSequence: number;
}

/** One flow's receiver state: rcv_nxt and the headers of its last segment (where its ACKs go). */
interface FlowReceiver {
  rcvNxt: number;
  readonly hdr: Uint8Array;
  ackPending: boolean;
}

/** iperf's receiving side: verifies each segment and ACKs it cumulatively. */
export class TcpBulkReceiver {
  readonly stats: TcpReceiverStats = { acksSent: 0, acksDeferred: 0, outOfSequence: 0 };
  /** Per connection, by the sender's source port; bounded by MAX_TCP_FLOWS (more get no ACK). */
  private readonly flows = new Map<number, FlowReceiver>();
  private readonly pending: number[] = [];
  private readonly hdr = new Uint8Array(TCP_OFF + TCP_HLEN);
  private readonly ack = new Uint8Array(ACK_FRAME);

  constructor(private readonly config: TcpReceiverConfig) {}

  /** The data path's receive hook (netif_receive_skb -> tcp_v4_rcv), on `vcpu`: consumes the skb. */
  deliver(skb: SkBuff, vcpu: Vcpu): void {
    const hdr = this.hdr;
    const short = skb.len < hdr.length;
    if (!short) skb.copyBits(0, hdr, 0, hdr.length);
    const len = skb.len;
    const { sink } = this.config.receiver;
    const corrupt = sink.corrupt;
    // The IP layer (netif.receive, charged by the sink), tcp_v4_rcv and iperf's read of the payload.
    const cpu = this.config.costs ?? vcpu;
    this.config.receiver.deliver(skb, cpu);
    cpu.charge(COST_TCP_RCV);
    if (!short) cpu.charge(COST_USERCOPY, len - TCP_OFF - TCP_HLEN);
    if (short || sink.corrupt !== corrupt) return; // a corrupt segment is not ACKed
    // The connection is the segment's 4-tuple: one pair of hosts and iperf's port, so its source port.
    const port = get16(hdr, TCP_OFF);
    let f = this.flows.get(port);
    if (f === undefined) {
      if (this.flows.size >= MAX_TCP_FLOWS) return;
      f = { rcvNxt: 0, hdr: new Uint8Array(hdr.length), ackPending: false };
      this.flows.set(port, f);
    }
    f.hdr.set(hdr);
    const seq = get32(hdr, TCP_OFF + 4);
    if (seq === f.rcvNxt) f.rcvNxt += len - TCP_OFF - TCP_HLEN;
    else this.stats.outOfSequence++;
    this.sendAck(f, vcpu);
  }

  /** The reverse path's queue woke (netif_tx_wake_queue): resend the ACKs it refused. */
  resendAcks(vcpu: Vcpu): void {
    const n = this.pending.length;
    for (let i = 0; i < n; i++) {
      const f = this.flows.get(this.pending.shift() as number);
      if (f === undefined) continue;
      f.ackPending = false;
      this.sendAck(f, vcpu);
    }
  }

  /** tcp_send_ack: a cumulative ACK of rcv_nxt. */
  private sendAck(f: FlowReceiver, vcpu: Vcpu): void {
    if (f.ackPending) return; // the resend carries the latest rcv_nxt
    const skb = this.config.skbs.allocSkb(ACK_FRAME);
    if (skb !== null) {
      writeTcpAck(this.ack, f.hdr, f.rcvNxt, this.config.windowBytes);
      skb.putData(this.ack);
      skb.partialCsumSet(TCP_OFF, 16);
      skb.protocol = ETH_P_IP;
      (this.config.costs ?? vcpu).charge(COST_TCP_XMIT);
      if (this.config.transmit(skb, vcpu)) {
        this.stats.acksSent++;
        return;
      }
      skb.free();
    }
    this.stats.acksDeferred++;
    f.ackPending = true;
    this.pending.push(get16(f.hdr, TCP_OFF));
  }
}
