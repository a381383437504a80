/**
 * The sending and receiving ends of a topology's traffic: a pktgen-like generator on a VCPU of
 * the sending domain (burst, clone_skbs through @pvnet/skb-model's Pktgen, a TCP-like window) and
 * a receiver that verifies every delivered frame and wakes the generator when its window opens.
 */
import type { Hypervisor, Vcpu } from "@pvnet/hypervisor";
import type { CostSink } from "@pvnet/sim";
import { CHECKSUM_NONE, CHECKSUM_PARTIAL, type Pktgen, SKB_GSO_TCPV4, type SkBuff, type SkbDesc } from "@pvnet/skb-model";
import { frameHeaderLen, type L4, MAX_FRAME, verifyFrameViews } from "./frame.js";
import { TrafficSink } from "./sink.js";

/** Largest frame kept linear: a standard Ethernet MTU frame. Larger frames are TCP GSO. */
export const MAX_LINEAR_FRAME = 1514;
/** Linear bytes of a GSO frame (headers and stamp); the rest sits in 32 KiB compound-page frags. */
const GSO_LINEAR = 70;
/** Bytes of a GSO frame's page frags: 32 KiB compound pages, as a socket's page_frag gives. */
const GSO_FRAG = 32768;
/** MSS of the generated GSO frames (a 1500-byte MTU TCP/IPv4 segment). */
export const GSO_MSS = 1448;

/** The layout pktgen builds for a frame size: linear up to 1514 bytes, else a TCP GSO skb. */
export function defaultLayout(pktSize: number): SkbDesc {
  if (pktSize <= MAX_LINEAR_FRAME) return { linearLen: pktSize };
  const frags = [];
  for (let left = pktSize - GSO_LINEAR; left > 0; left -= GSO_FRAG) frags.push({ size: Math.min(left, GSO_FRAG), offset: 0, order: 3 });
  return { linearLen: GSO_LINEAR, frags, gso: { size: GSO_MSS, type: SKB_GSO_TCPV4 } };
}

/** The transport of a generated frame: UDP up to the MTU (pktgen), TCP for GSO frames. */
export function l4Of(pktSize: number): L4 {
  return pktSize <= MAX_LINEAR_FRAME ? "udp" : "tcp";
}

/**
 * Packets a window of `windowBytes` holds for `pktSize`-byte frames, at most `maxPackets`; 0
 * bytes means no window (send as fast as the driver takes frames, like pktgen).
 */
export function windowPackets(windowBytes: number, pktSize: number, maxPackets: number): number {
  if (windowBytes === 0) return Number.POSITIVE_INFINITY;
  return Math.min(maxPackets, Math.max(1, Math.floor(windowBytes / pktSize)));
}

/** Cost kind of the host stack taking one frame (netif_receive_skb up to where the frame is consumed). */
export const COST_NETIF_RECEIVE = "netif.receive";
/** Cost kind of pktgen's own work per frame (its loop and the call into the driver). */
export const COST_PKTGEN_XMIT = "pktgen.xmit";

/** From this size on a delivered frame's payload is checked in its skb's pages rather than copied out first. */
const VIEW_CHECK_MIN = 1024;

/** Options of a `FrameReceiver`. */
export interface FrameReceiverOptions {
  /**
   * Read each frame's payload and check its CRC (default true). False: a sink that reads only
   * the headers and the stamp (like a stack that forwards or drops by header), so payload bytes
   * in frags mapped from a guest are never read — and those mappings stay untouched (no TLB
   * flush at their unmap).
   */
  readonly readPayload?: boolean;
}

/** Receives skbs from a driver, verifies their frames and notes when the last one arrived. */
export class FrameReceiver {
  readonly sink = new TrafficSink();
  /** Virtual time of the last delivery (the latest local clock of any VCPU at that moment). */
  lastDeliveryNs = 0;
  /** Called after each delivery (the generator waits on it when its window is full). */
  onDelivery: () => void = () => {};
  private readonly frame = new Uint8Array(MAX_FRAME);
  /** Views of a large frame's payload in its skb (reused). */
  private readonly views: Uint8Array[] = [];
  private readonly readPayload: boolean;

  constructor(
    private readonly hv: Hypervisor,
    options: FrameReceiverOptions = {},
  ) {
    this.readPayload = options.readPayload ?? true;
  }

  /**
   * The driver's receive hook (netif_receive_skb / napi_gro_receive): consumes the skb. `cpu`
   * (the receiving domain's running VCPU) is charged the host stack's work on the frame.
   */
  deliver(skb: SkBuff, cpu?: CostSink): void {
    cpu?.charge(COST_NETIF_RECEIVE);
    for (const a of this.hv.sim.allActors()) if (a.nowNs > this.lastDeliveryNs) this.lastDeliveryNs = a.nowNs;
    const len = skb.len;
    const head = frameHeaderLen(len);
    if (this.readPayload && len >= VIEW_CHECK_MIN) {
      // A large frame's payload CRC runs over the skb's own pages: only its headers are copied.
      const views = this.views;
      skb.copyBits(0, this.frame, 0, head);
      if (skb.toSgvec(head, len - head, views) < 0) views.length = 0;
      const v = verifyFrameViews(this.frame, head, views, len);
      views.length = 0;
      skb.free();
      this.sink.record(v);
    } else {
      skb.copyBits(0, this.frame, 0, this.readPayload ? len : head);
      skb.free();
      this.sink.receive(this.frame, len, this.readPayload);
    }
    this.onDelivery();
  }
}

/**
 * Where a traffic generator runs and what it sends: its VCPU, the Pktgen that builds frames, packet
 * count, burst and window, the receiver, and the driver's transmit entry point.
 */
export interface GeneratorConfig {
  readonly hv: Hypervisor;
  /** The VCPU the generator runs on (pktgen's kthread). */
  readonly vcpu: Vcpu;
  readonly pktgen: Pktgen;
  readonly packets: number;
  /**
   * pktgen's burst: times one skb is handed to the driver per xmit loop, each with xmit_more but
   * the last (net/core/pktgen.c, pktgen_xmit: refcount_add(burst, &skb->users), then
   * netdev_start_xmit(skb, odev, txq, --burst > 0) while the queue runs). Each loop takes one
   * packet from pktgen (a fresh one, or the same again with clone_skbs).
   */
  readonly burst: number;
  /** Frames in flight at most (see `windowPackets`). */
  readonly window: number;
  readonly receiver: FrameReceiver;
  /**
   * ndo_start_xmit: true when the driver took the skb, false when its queue is stopped (the skb
   * stays ours). `xmitMore`: more skbs of this burst follow (skb->xmit_more).
   */
  readonly transmit: (skb: SkBuff, vcpu: Vcpu, xmitMore: boolean) => boolean;
  /** Whether the driver's queue is stopped (netif_xmit_stopped), checked before each frame. */
  readonly stopped?: () => boolean;
  /** Frames the drivers counted as dropped: they will never be delivered. */
  readonly dropped: () => number;
}

/**
 * A pktgen-like traffic generator (net/core/pktgen.c) on a VCPU of the sending domain: bursts of
 * frames into the domain's transmit path, paced by a TCP-like window that the sink reopens.
 */
export class TrafficGenerator {
  sent = 0;
  private held: SkBuff | null = null;
  private scheduled = false;
  private waitingForWindow = false;
  /** The step as one function for the life of the generator: no closure per wake-up. */
  private readonly stepOn = (v: Vcpu): void => this.step(v);

  constructor(private readonly config: GeneratorConfig) {
    config.receiver.onDelivery = () => {
      if (this.waitingForWindow) {
        this.waitingForWindow = false;
        this.wake();
      }
    };
  }

  /** Frames sent and neither delivered nor counted dropped. */
  inFlight(): number {
    const { sink } = this.config.receiver;
    return this.sent - sink.delivered - sink.corrupt - this.config.dropped();
  }

  /** Schedule a step on the generator's VCPU (start, or a queue that woke up). */
  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const { hv, vcpu } = this.config;
    hv.runOn(vcpu, Math.max(hv.sim.clock.now(), vcpu.actor.nowNs), this.stepOn);
  }

  /** One pktgen_xmit: one packet sent up to `burst` times (fewer when the run's count ends first). */
  private step(v: Vcpu): void {
    this.scheduled = false;
    const c = this.config;
    const { sink } = c.receiver;
    if (c.stopped?.() === true) return; // the driver's queue wake calls wake()
    // Cheap bound first: driver counters are summed only when the window may be full.
    if (this.sent - sink.delivered >= c.window && this.inFlight() >= c.window) {
      this.waitingForWindow = true; // a delivery calls wake()
      return;
    }
    const skb = this.held ?? c.pktgen.next();
    this.held = null;
    if (skb === null) {
      this.wake(); // out of memory: retry on the next step
      return;
    }
    // A GSO skb from the stack has a partial checksum (the device fills it in).
    if (skb.ipSummed === CHECKSUM_NONE && skb.shinfo.gsoSize !== 0) skb.ipSummed = CHECKSUM_PARTIAL;
    let burst = Math.min(c.burst, c.packets - this.sent);
    // refcount_add(burst - 1): the driver frees one reference per skb it takes.
    for (let k = 1; k < burst; k++) skb.get();
    while (burst > 0) {
      v.charge(COST_PKTGEN_XMIT);
      if (!c.transmit(skb, v, --burst > 0)) {
        this.held = skb; // NETDEV_TX_BUSY: resent when the queue wakes
        break;
      }
      this.sent++;
      if (burst > 0 && c.stopped?.() === true) break; // netif_xmit_frozen_or_drv_stopped
    }
    // The references of the sends that did not happen.
    for (; burst > 0; burst--) skb.free();
    if (this.held === null && this.sent < c.packets) this.wake();
  }

  /** Drop what the generator still holds (an skb refused by a stopped queue, pktgen's own). */
  finish(): void {
    this.held?.free();
    this.held = null;
    this.config.pktgen.stop();
  }
}
