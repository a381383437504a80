/**
 * Event channels, 2-level ABI (xen/common/event_channel.c, event_2l.c). Each domain has a
 * shared_info frame in machine memory holding, as in xen.h, one `vcpu_info` per VCPU
 * (evtchn_upcall_pending, evtchn_upcall_mask, evtchn_pending_sel) and the evtchn_pending and
 * evtchn_mask bitmaps; every bit is set and cleared with Atomics, so a guest VCPU in another
 * worker thread sees the same state. The port table (state, remote end, notify VCPU) is
 * hypervisor memory: in the machine's hypervisor heap, which guests never see.
 */
import { XenError } from "./errors.js";
import type { Machine } from "./machine.js";

/** EVTCHNSTAT_* (event_channel.h). */
export const EVTCHNSTAT = Object.freeze({
  closed: 0,
  unbound: 1,
  interdomain: 2,
  pirq: 3,
  virq: 4,
  ipi: 5,
});

/** EVTCHNOP_* hypercall sub-ops (event_channel.h). */
export const EVTCHNOP = Object.freeze({
  bind_interdomain: 0,
  bind_virq: 1,
  bind_pirq: 2,
  close: 3,
  send: 4,
  status: 5,
  alloc_unbound: 6,
  bind_ipi: 7,
  bind_vcpu: 8,
  unmask: 9,
  reset: 10,
});

/**
 * Ports per domain. The 2-level ABI allows 64 * 64 = 4096 on a 64-bit guest; we keep Xen's
 * per-domain default limit for guests (max_evtchn_port 1023, so 1024 ports).
 */
export const EVTCHN_NR_PORTS = 1024;

/** shared_info layout, x86_64 (xen.h): 32 vcpu_info of 64 bytes, then the bitmaps. */
export const SHARED_INFO = Object.freeze({
  VCPU_INFO_SIZE: 64,
  /** Offsets inside one vcpu_info. */
  UPCALL_PENDING: 0,
  UPCALL_MASK: 1,
  PENDING_SEL: 8,
  /** evtchn_pending[64] of xen_ulong_t. */
  EVTCHN_PENDING: 2048,
  /** evtchn_mask[64] of xen_ulong_t. */
  EVTCHN_MASK: 2560,
  /** vcpu_info slots in shared_info (XEN_LEGACY_MAX_VCPUS). */
  LEGACY_MAX_VCPUS: 32,
});

// Port table: 4 int32 per port.
const P_STATE = 0;
const P_REMOTE_DOM = 1;
const P_REMOTE_PORT = 2;
const P_VCPU = 3;
const P_WORDS = 4;

/** The event-channel state of one domain: its port table and its shared_info frame. */
export class EvtchnDomain {
  /** Hypervisor-private port table, in the machine's hypervisor heap so every VCPU thread sees it. */
  readonly table: Int32Array;

  constructor(
    readonly machine: Machine,
    readonly domid: number,
    /** mfn of this domain's shared_info page. */
    readonly sharedInfoMfn: number,
    readonly nrVcpus: number,
    table?: Int32Array,
  ) {
    if (nrVcpus > SHARED_INFO.LEGACY_MAX_VCPUS) throw new RangeError("too many VCPUs for the legacy shared_info");
    this.table = table ?? machine.hvArray(Int32Array, EVTCHN_NR_PORTS * P_WORDS);
  }

  /** The port's state (EVTCHNSTAT_*); EVTCHNSTAT.closed for a port outside the table. */
  state(port: number): number {
    return this.validPort(port) ? Atomics.load(this.table, port * P_WORDS + P_STATE) : EVTCHNSTAT.closed;
  }

  /** The remote domain of an interdomain or unbound port (evtchn_status's `remote_dom`). */
  remoteDom(port: number): number {
    return Atomics.load(this.table, port * P_WORDS + P_REMOTE_DOM);
  }

  /** The remote port of an interdomain port. */
  remotePort(port: number): number {
    return Atomics.load(this.table, port * P_WORDS + P_REMOTE_PORT);
  }

  /** The VCPU the port notifies (EVTCHNOP_bind_vcpu; 0 by default). */
  notifyVcpu(port: number): number {
    return Atomics.load(this.table, port * P_WORDS + P_VCPU);
  }

  /** port_is_valid: 1 .. EVTCHN_NR_PORTS - 1 (port 0 is reserved). */
  validPort(port: number): boolean {
    // Port 0 is reserved, as in Xen.
    return Number.isInteger(port) && port > 0 && port < EVTCHN_NR_PORTS;
  }

  /** get_free_port: the lowest closed port; ENOSPC when all are in use. */
  getFreePort(): number {
    for (let p = 1; p < EVTCHN_NR_PORTS; p++) if (this.state(p) === EVTCHNSTAT.closed) return p;
    throw new XenError("ENOSPC", `d${this.domid} has no free event channel`);
  }

  /** Write a port's table entry: state, remote end and notify VCPU. */
  setPort(port: number, state: number, remoteDom: number, remotePort: number, vcpu: number): void {
    const b = port * P_WORDS;
    Atomics.store(this.table, b + P_REMOTE_DOM, remoteDom);
    Atomics.store(this.table, b + P_REMOTE_PORT, remotePort);
    Atomics.store(this.table, b + P_VCPU, vcpu);
    // State last: a reader that sees the new state sees the fields it guards.
    Atomics.store(this.table, b + P_STATE, state);
  }

  /** EVTCHNOP_bind_vcpu: the VCPU the port notifies from now on. */
  setVcpu(port: number, vcpu: number): void {
    Atomics.store(this.table, port * P_WORDS + P_VCPU, vcpu);
  }

  /** Ports in use (not closed). */
  openPorts(): number[] {
    const out: number[] = [];
    for (let p = 1; p < EVTCHN_NR_PORTS; p++) if (this.state(p) !== EVTCHNSTAT.closed) out.push(p);
    return out;
  }

  // ---- shared_info bit operations (all atomic, u32 granularity, little-endian ulongs) ----

  private word(base: number, bit: number): number {
    return (this.sharedInfoMfn * 4096 + base) / 4 + (bit >>> 5);
  }

  private testAndSet(base: number, bit: number): boolean {
    const m = 1 << (bit & 31);
    return (Atomics.or(this.machine.u32, this.word(base, bit), m) & m) !== 0;
  }

  private testBit(base: number, bit: number): boolean {
    return (Atomics.load(this.machine.u32, this.word(base, bit)) & (1 << (bit & 31))) !== 0;
  }

  private clearBit(base: number, bit: number): void {
    Atomics.and(this.machine.u32, this.word(base, bit), ~(1 << (bit & 31)));
  }

  /** The port's bit in shared_info's evtchn_pending bitmap. */
  isPending(port: number): boolean {
    return this.testBit(SHARED_INFO.EVTCHN_PENDING, port);
  }

  /** The port's bit in shared_info's evtchn_mask bitmap. */
  isMasked(port: number): boolean {
    return this.testBit(SHARED_INFO.EVTCHN_MASK, port);
  }

  /** Guest side: clear_evtchn. */
  clearPending(port: number): void {
    this.clearBit(SHARED_INFO.EVTCHN_PENDING, port);
  }

  /** Guest side: mask_evtchn (a plain bit set in shared_info, no hypercall). */
  mask(port: number): void {
    this.testAndSet(SHARED_INFO.EVTCHN_MASK, port);
  }

  /** Hypervisor side of unmask: clear the mask bit. Returns whether the port is pending. */
  clearMask(port: number): boolean {
    this.clearBit(SHARED_INFO.EVTCHN_MASK, port);
    return this.isPending(port);
  }

  private vcpuInfo(vcpu: number): number {
    return this.sharedInfoMfn * 4096 + vcpu * SHARED_INFO.VCPU_INFO_SIZE;
  }

  /**
   * evtchn_2l_set_pending: set the port's pending bit; if it was clear and the port is unmasked,
   * set the selector bit and, if that was clear, mark the VCPU's upcall pending. Returns true when
   * the VCPU must be kicked (vcpu_mark_events_pending).
   */
  setPending(port: number): boolean {
    if (this.testAndSet(SHARED_INFO.EVTCHN_PENDING, port)) return false;
    if (this.isMasked(port)) return false;
    return this.markSelector(this.notifyVcpu(port), port);
  }

  /** Set the pending_sel bit for the ulong holding `port`; kick needed if upcall_pending was 0. */
  markSelector(vcpu: number, port: number): boolean {
    const sel = port >>> 6; // one selector bit per 64-port xen_ulong_t
    const selWord = (this.vcpuInfo(vcpu) + SHARED_INFO.PENDING_SEL) / 4 + (sel >>> 5);
    const m = 1 << (sel & 31);
    if ((Atomics.or(this.machine.u32, selWord, m) & m) !== 0) return false;
    return this.markUpcallPending(vcpu);
  }

  private markUpcallPending(vcpu: number): boolean {
    // evtchn_upcall_pending is a byte; we own the whole first word of vcpu_info for atomics.
    const w = this.vcpuInfo(vcpu) / 4;
    const prev = Atomics.or(this.machine.u32, w, 1);
    return (prev & 1) === 0;
  }

  /**
   * Guest side of the upcall (xen_evtchn_do_upcall, 2-level): clear upcall_pending, take the
   * selector, and for each pending unmasked port clear its pending bit and report it. Returns the
   * ports in ascending order within each selector word.
   */
  takePendingPorts(vcpu: number, out: number[]): number[] {
    const info = this.vcpuInfo(vcpu);
    Atomics.and(this.machine.u32, info / 4, ~1);
    const selBase = (info + SHARED_INFO.PENDING_SEL) / 4;
    for (let half = 0; half < 2; half++) {
      let sel = Atomics.exchange(this.machine.u32, selBase + half, 0);
      while (sel !== 0) {
        const bit = 31 - Math.clz32(sel & -sel);
        sel &= sel - 1;
        const ulong = half * 32 + bit;
        for (let w = 0; w < 2; w++) {
          const word = ulong * 2 + w;
          const pendingIdx = (this.sharedInfoMfn * 4096 + SHARED_INFO.EVTCHN_PENDING) / 4 + word;
          const maskIdx = (this.sharedInfoMfn * 4096 + SHARED_INFO.EVTCHN_MASK) / 4 + word;
          let bits = Atomics.load(this.machine.u32, pendingIdx) & ~Atomics.load(this.machine.u32, maskIdx);
          while (bits !== 0) {
            const b = 31 - Math.clz32(bits & -bits);
            bits &= bits - 1;
            const port = word * 32 + b;
            this.clearPending(port);
            out.push(port);
          }
        }
      }
    }
    return out;
  }

  /** The VCPU's vcpu_info.evtchn_upcall_pending (an upcall is due). */
  upcallPending(vcpu: number): boolean {
    return (Atomics.load(this.machine.u32, this.vcpuInfo(vcpu) / 4) & 1) !== 0;
  }
}
