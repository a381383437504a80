/**
 * A domain: domid, VCPUs, and its pseudo-physical memory (p2m: guest frame number -> machine
 * frame number). A domain reaches its own pages through its p2m; another domain's pages only
 * through grants (see @pvnet/xen-grant-table).
 */
import type { Actor } from "@pvnet/sim";
import { XenError } from "./errors.js";
import { type Machine, XEN_PAGE_SIZE } from "./machine.js";

/** Special domids from xen.h: "the calling domain" and the hypervisor itself. */
export const DOMID_SELF = 0x7ff0;
/** DOMID_XEN: the hypervisor itself, as the owner of Xen's own frames. */
export const DOMID_XEN = 0x7ff2;
/** Largest ordinary domid (xen.h: DOMID_FIRST_RESERVED - 1). */
export const DOMID_MAX = 0x7fef;
/** Bound on VCPUs per domain in this model (Xen's default for PV guests is larger; 64 fits our tables). */
export const MAX_VIRT_CPUS = 64;

/**
 * What the toolstack gives a domain at creation (XEN_DOMCTL_createdomain + max_mem): name, memory
 * limit in 4 KiB pages, VCPUs.
 */
export interface DomainConfig {
  readonly name: string;
  /** Memory limit in 4 KiB pages (the p2m size). */
  readonly maxPages: number;
  readonly vcpus?: number;
  /**
   * The pCPU each VCPU is pinned on (`xl vcpu-pin`), when the host models pCPUs; by default the
   * next pCPUs in turn, Dom0's first: on host A's six cores the RFC's Dom0 and guest VCPUs each
   * get a core of their own, as its vif IRQs were balanced across cores.
   */
  readonly pcpus?: readonly number[];
}

/** A virtual CPU: the unit that runs driver code and is charged for it. */
export class Vcpu {
  constructor(
    readonly domain: Domain,
    readonly id: number,
    /** Cost account and local clock (from @pvnet/sim). */
    readonly actor: Actor,
  ) {}

  /** Charge an operation to this VCPU. */
  charge(kind: string, units = 0): void {
    this.actor.charge(kind, units);
  }

  /** `d<domid>v<vcpu>`, as Xen's `%pv` prints a VCPU. */
  toString(): string {
    return `d${this.domain.domid}v${this.id}`;
  }
}

/** A Xen domain (struct domain): its VCPUs, p2m (gfn -> mfn) and page allocation, event-channel table and grant-table frames. */
export class Domain {
  readonly vcpus: Vcpu[] = [];
  /** gfn -> mfn; 0 = not populated. */
  private readonly p2m: Int32Array;
  private readonly freeGfns: number[] = [];
  private nextGfn = 0;
  private populated = 0;
  /** Set when the domain is being destroyed: new grants and event channels are refused. */
  dying = false;

  constructor(
    readonly machine: Machine,
    readonly domid: number,
    readonly config: DomainConfig,
    makeActor: (name: string) => Actor,
  ) {
    if (!Number.isInteger(config.maxPages) || config.maxPages < 1) throw new RangeError(`bad maxPages ${config.maxPages}`);
    const nrVcpus = config.vcpus ?? 1;
    if (!Number.isInteger(nrVcpus) || nrVcpus < 1 || nrVcpus > MAX_VIRT_CPUS) throw new RangeError(`bad vcpu count ${nrVcpus}`);
    // In the hypervisor heap: a grant copy on another domain's thread reads this p2m.
    this.p2m = machine.hvArray(Int32Array, config.maxPages);
    for (let i = 0; i < nrVcpus; i++) this.vcpus.push(new Vcpu(this, i, makeActor(`d${domid}v${i}`)));
  }

  /** The domain's name (the toolstack's `name` in xenstore). */
  get name(): string {
    return this.config.name;
  }

  /** The memory limit in 4 KiB pages (max_pages, the p2m size). */
  get maxPages(): number {
    return this.config.maxPages;
  }

  /** Pages currently populated. */
  get nrPages(): number {
    return this.populated;
  }

  /**
   * Populate one page of the domain's physical memory (XENMEM_populate_physmap for one extent).
   * Returns its gfn, or throws ENOMEM when the domain is at its limit or the machine is full.
   */
  allocPage(): number {
    if (this.populated >= this.config.maxPages) throw new XenError("ENOMEM", `d${this.domid} is at its limit of ${this.config.maxPages} pages`);
    const mfn = this.machine.allocFrame(this.domid);
    if (mfn < 0) throw new XenError("ENOMEM", "machine memory exhausted");
    const gfn = this.freeGfns.length > 0 ? (this.freeGfns.pop() as number) : this.nextGfn++;
    Atomics.store(this.p2m, gfn, mfn);
    this.populated++;
    return gfn;
  }

  /** Populate `n` pages; like Xen, no promise that their machine frames are contiguous. */
  allocPages(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.allocPage());
    return out;
  }

  /** Give a page back (XENMEM_decrease_reservation). Callers make sure nobody maps it. */
  freePage(gfn: number): void {
    const mfn = this.gfnToMfn(gfn);
    if (mfn === 0) throw new XenError("EINVAL", `gfn ${gfn} of d${this.domid} is not populated`);
    Atomics.store(this.p2m, gfn, 0);
    this.machine.freeFrame(mfn);
    this.freeGfns.push(gfn);
    this.populated--;
  }

  /** Machine frame behind `gfn`, or 0 if it is not populated (or out of range). */
  gfnToMfn(gfn: number): number {
    if (!Number.isInteger(gfn) || gfn < 0 || gfn >= this.p2m.length) return 0;
    return Atomics.load(this.p2m, gfn);
  }

  /** Byte offset in machine memory of the domain's own page `gfn`; throws if not populated. */
  pageOffset(gfn: number): number {
    const mfn = this.gfnToMfn(gfn);
    if (mfn === 0) throw new XenError("EFAULT", `gfn ${gfn} of d${this.domid} is not populated`);
    return mfn * XEN_PAGE_SIZE;
  }

  /** Every populated gfn (for teardown and checks). */
  populatedGfns(): number[] {
    const out: number[] = [];
    for (let g = 0; g < this.nextGfn; g++) if (this.p2m[g] !== 0) out.push(g);
    return out;
  }
}
