/**
 * What a kernel driver uses of the machine below it, as interfaces: event-channel operations,
 * deferred work and timers, multicalls, the clock, the trace and the CPU that pays for work.
 * `Hypervisor` implements them for the deterministic runner (`kernelOps`); a threaded runner or
 * a test supplies its own objects.
 */
import type { Clock, CostSink, TimerHandle } from "@pvnet/sim";
import type { Domain, Vcpu } from "./domain.js";
import type { MulticallEntry } from "./hypercall.js";
import type { Machine } from "./machine.js";

/** A guest's handler for one event-channel port (bind_evtchn_to_irqhandler). */
export type EvtchnHandler = (port: number, vcpu: Vcpu) => void;

/**
 * HYPERVISOR_event_channel_op as a driver issues it, plus Linux's binding of a port to an irq
 * handler (bind_evtchn_to_irqhandler / unbind_from_irqhandler).
 */
export interface EvtchnOps {
  /** EVTCHNOP_alloc_unbound: a port `remoteDom` may bind to. */
  evtchnAllocUnbound(vcpu: Vcpu, remoteDom: number): number;
  /** EVTCHNOP_bind_interdomain: bind a local port to `remotePort` of `remoteDom`. */
  evtchnBindInterdomain(vcpu: Vcpu, remoteDom: number, remotePort: number): number;
  /** EVTCHNOP_bind_vcpu: deliver `port` to VCPU `target`. */
  evtchnBindVcpu(vcpu: Vcpu, port: number, target: number): void;
  /** EVTCHNOP_send (notify_remote_via_evtchn). */
  evtchnSend(vcpu: Vcpu, port: number): void;
  /** EVTCHNOP_close. */
  evtchnClose(vcpu: Vcpu, port: number): void;
  /** EVTCHNOP_unmask: clear the mask bit and redeliver a pending event. */
  evtchnUnmask(vcpu: Vcpu, port: number): void;
  /** Guest mask_evtchn: the mask bit set in the domain's own shared_info, no hypercall. */
  maskEvtchn(domain: Domain, port: number): void;
  /** Whether `port` is masked in the domain's shared_info (a plain read of its own page). */
  isEvtchnMasked(domain: Domain, port: number): boolean;
  /** Bind a guest handler to a port (bind_evtchn_to_irqhandler): called on the domain's VCPU when the port fires. */
  bindHandler(domain: Domain, port: number, handler: EvtchnHandler): void;
  /** Remove the handler bound to a port (unbind_from_irqhandler). */
  unbindHandler(domain: Domain, port: number): void;
}

/** Deferred work on a VCPU: queue_work, tasklets, NAPI scheduling, and one-shot timers (mod_timer). */
export interface DeferredWork {
  /** Run `fn` on `vcpu` at `atNs` of virtual time (or when the VCPU is free). */
  runOn(vcpu: Vcpu, atNs: number, fn: (vcpu: Vcpu) => void): void;
  /** A one-shot timer on `vcpu`, `delayNs` after its current local time. */
  setTimer(vcpu: Vcpu, delayNs: number, fn: (vcpu: Vcpu) => void): void;
  /** A one-shot timer on `vcpu` at `atNs` that can be deleted (mod_timer / del_timer). */
  timerAt(vcpu: Vcpu, atNs: number, fn: (vcpu: Vcpu) => void): TimerHandle;
}

/** HYPERVISOR_multicall. */
export interface MulticallOps {
  /** HYPERVISOR_multicall: run `calls` in one hypervisor entry, each entry's rc written to `results`. */
  multicall(vcpu: Vcpu, calls: readonly MulticallEntry[], results: Int32Array): void;
}

/** A trace of model events (see @pvnet/sim `Trace`). */
export interface TraceSink {
  /** Record an event of `actor` with two integer arguments. */
  traceEvent(actor: number, event: string, a?: number, b?: number): void;
}

/** Per-CPU cost accounts: the CPU of a domain that runs now pays for what its kernel does. */
export interface CpuCosts {
  /** A cost sink charging whichever VCPU of `domain` is running (its VCPU 0 outside any work). */
  cpuCosts(domain: Domain): CostSink;
}

/**
 * Everything a driver gets from the layer below, besides its grant, xenstore and memory
 * allocators: one object per kernel, whose members the runner supplies.
 */
export interface KernelOps {
  readonly clock: Clock;
  readonly work: DeferredWork;
  readonly evtchn: EvtchnOps;
  readonly hypercalls: MulticallOps;
  /** Machine memory: memcpy/memset between machine addresses, and the frames rings live in. */
  readonly machine: Machine;
  readonly trace: TraceSink;
}
