export { Actor } from "./actor.js";
export { type Clock, MAX_TIME_NS, VirtualClock } from "./clock.js";
export {
  CACHE_LEVELS,
  type CacheLevel,
  CostAccount,
  CostModel,
  type CostProfile,
  type CostReport,
  type CostSink,
  deriveHost,
  type HostCpu,
  type HostDerivation,
  type OperationCost,
} from "./cost.js";
export { FaultPlan } from "./faults.js";
export { COST_CONTEXT_SWITCH, Pcpu, PcpuSet } from "./pcpu.js";
export { hashLabel, Prng, type Ratio, ratio } from "./prng.js";
export {
  DEFAULT_MAX_EVENTS,
  type EventFn,
  type EventHandle,
  type RunLimits,
  type RunResult,
  Scheduler,
  type StopReason,
} from "./scheduler.js";
export { FREE_PROFILE, Simulation, type SimulationOptions, type TimerHandle } from "./simulation.js";
export { DEFAULT_TRACE_CAPACITY, formatTraceMode, MAX_TRACE_SAMPLE, Trace, type TraceMode, type TraceRecord, traceSampleEvery } from "./trace.js";
