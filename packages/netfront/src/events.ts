/**
 * Late EOI for the frontend's event channels (drivers/xen/events/events_base.c, the XSA-391
 * hardening, CVE-2021-28712): netfront binds its channels with
 * bind_evtchn_to_irqhandler_lateeoi and, after each interrupt, calls
 * xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS) when the interrupt found no work. Consecutive
 * spurious events back the channel off: it stays masked for 1, 2, 4, ... jiffies, up to one
 * second, so a backend that storms events costs the guest a bounded number of interrupts. An
 * interrupt with work resets the count. A disabled ("broken") device never EOIs: its channel stays
 * masked.
 *
 * An EOI without a delay leaves the channel as it was. Linux masks the channel in the ack and
 * unmasks it at the EOI, and the two cancel out, so the model does neither. A delayed EOI masks
 * the channel (a bit in shared_info) and unmasks it when the delay ends (EVTCHNOP_unmask, which
 * delivers an event that came in meanwhile).
 */
import type { Vcpu } from "@pvnet/hypervisor";
import type { NetfrontQueue } from "./common.js";

/** HZ: jiffies per second (CONFIG_HZ=250, the common distribution setting). */
export const HZ = 250;
/** One jiffy of virtual time. */
export const JIFFY_NS = 1_000_000_000 / HZ;
/**
 * dev->spurious_threshold: spurious events tolerated before the EOI is delayed
 * (xenbus_device's default, 1; netfront does not change it).
 */
export const SPURIOUS_THRESHOLD = 1;

/** Per-channel late-EOI state (struct irq_info: spurious_cnt, eoi_time pending). */
export interface LateEoiState {
  spuriousCnt: number;
  /** A delayed EOI is pending (the channel is masked until it runs). */
  delayed: boolean;
}

export function newLateEoiState(): LateEoiState {
  return { spuriousCnt: 0, delayed: false };
}

/**
 * xen_irq_lateeoi(irq, spurious ? XEN_EOI_FLAG_SPURIOUS : 0) for the channel `port` of queue `q`,
 * on `vcpu` (xen_irq_lateeoi_locked): count the spurious event (dev->spurious_events) and, past
 * the threshold, mask the channel and unmask it 2^(cnt - 1 - threshold) jiffies later (at most HZ),
 * adding the delay to dev->jiffies_eoi_delayed.
 */
export function xenIrqLateeoi(q: NetfrontQueue, st: LateEoiState, port: number, spurious: boolean, vcpu: Vcpu): void {
  if (st.delayed) return; // already on the lateeoi list
  if (!spurious) {
    st.spuriousCnt = 0;
    return;
  }
  // The count stops growing once 2^cnt reaches HZ << 2 (the delay is capped at HZ anyway).
  if (1 << st.spuriousCnt < HZ << 2) st.spuriousCnt++;
  q.stats.spuriousEvents++;
  if (st.spuriousCnt <= SPURIOUS_THRESHOLD) return;
  const delay = Math.min(1 << (st.spuriousCnt - 1 - SPURIOUS_THRESHOLD), HZ);
  q.stats.eoiDelayedJiffies += delay;
  const np = q.info;
  const life = q.generation;
  st.delayed = true;
  np.env.evtchn.maskEvtchn(np.env.domain, port);
  np.env.work.setTimer(vcpu, delay * JIFFY_NS, (v) => {
    // A teardown since closed the channel (and a new connection has channels of its own).
    if (q.generation !== life || !q.live) return;
    st.delayed = false;
    if (np.broken) return; // a broken device never EOIs
    np.env.evtchn.evtchnUnmask(v, port);
  });
}

/** A broken device's handler returns without xen_irq_lateeoi: the channel stays masked. */
export function xenIrqNoEoi(q: NetfrontQueue, port: number): void {
  q.info.env.evtchn.maskEvtchn(q.info.env.domain, port);
}
