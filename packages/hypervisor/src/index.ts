export {
  DOMID_MAX,
  DOMID_SELF,
  DOMID_XEN,
  Domain,
  type DomainConfig,
  MAX_VIRT_CPUS,
  Vcpu,
} from "./domain.js";
export { isXenError, XEN_ERRNO, XenError, type XenErrnoName } from "./errors.js";
export { EVTCHN_NR_PORTS, EVTCHNOP, EVTCHNSTAT, EvtchnDomain, SHARED_INFO } from "./evtchn.js";
export {
  COST_HYPERCALL,
  COST_MULTICALL_ENTRY,
  type HypercallSnapshot,
  HypercallStats,
  hypercall,
  type MulticallEntry,
  multicall,
  type OpCount,
} from "./hypercall.js";
export {
  COST_EVTCHN_BIND,
  COST_EVTCHN_SEND,
  COST_EVTCHN_UNMASK,
  COST_TLB_FLUSH,
  COST_TLB_FLUSH_IPI,
  COST_UPCALL,
  type EvtchnHandler,
  type EvtchnStatus,
  Hypervisor,
  type HypervisorOptions,
  type UpcallDelivery,
} from "./hypervisor.js";
export { createMachineMemory, DOMID_INVALID, HV_HEAP_MAX, Machine, type MachineHandle, MAX_FRAMES, type SharedMemory, XEN_PAGE_SHIFT, XEN_PAGE_SIZE } from "./machine.js";
export type { CpuCosts, DeferredWork, EvtchnOps, KernelOps, MulticallOps, TraceSink } from "./ops.js";
export { DEFAULT_PROFILE, HOST_A, HOST_B, HOST_PROFILES, XEON_E5_1650V2 } from "./profiles.js";
