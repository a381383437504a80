/**
 * A modelled host, booted the way a toolstack does: the hypervisor, the grant tables, xenstore and
 * the toolstack's connection, then each domain (the first is Dom0) with its xenstore home
 * (libxl__domain_make) and its kernel context (xenstore connection, xenbus, guest grant-table
 * driver). Every domain's xenbus watch callbacks run on its VCPU 0 (xenbusInit's xenwatch), so a
 * whole connection handshake replays from the seed.
 *
 * The runner is chosen here and only here: the drivers get their environment from
 * `Host.kernelOps()`, the per-CPU cost sinks from `cpuCosts`, and never see which runner it is.
 */
import type { CostProfile } from "@pvnet/sim";
import { type Domain, Hypervisor, type KernelOps, type Vcpu } from "@pvnet/hypervisor";
import { GnttabGuest, GrantTables, type MaptrackVariant } from "@pvnet/xen-grant-table";
import { type Connection, createXenstoredServer, libxlDomainMake, XenStore, type Xenbus, type XenstoredServer, xenbusInit } from "@pvnet/xenstore";

export interface HostOptions {
  readonly seed: number;
  /** Machine memory in 4 KiB frames. */
  readonly frames?: number;
  readonly profile?: CostProfile;
  readonly maptrack?: MaptrackVariant;
  /** How VCPUs run: "deterministic" (every VCPU an actor of one seeded virtual-time scheduler). */
  readonly runner?: HostRunner;
}

/** The runners a host can boot with. Threaded mode (one worker per VCPU) is not built yet. */
export const HOST_RUNNERS = ["deterministic"] as const;
export type HostRunner = (typeof HOST_RUNNERS)[number];

/** One domain as its kernel sees the environment. */
export interface Kernel {
  readonly domain: Domain;
  readonly vcpu0: Vcpu;
  readonly conn: Connection;
  readonly xenbus: Xenbus;
  readonly gnttab: GnttabGuest;
}

/** Default machine size: 64 Ki frames = 256 MiB, room for Dom0, guests, rings and 64 KiB packets. */
export const DEFAULT_HOST_FRAMES = 1 << 16;

export class Host {
  readonly runner: HostRunner;
  readonly hv: Hypervisor;
  readonly grants: GrantTables;
  readonly store = new XenStore();
  /** The toolstack's own privileged connection (xl/libxl in Dom0 user space). */
  readonly toolstack: Connection;
  private readonly kernels = new Map<number, Kernel>();
  private server: XenstoredServer | undefined;

  constructor(options: HostOptions) {
    this.runner = options.runner ?? "deterministic";
    if (!HOST_RUNNERS.includes(this.runner)) throw new RangeError(`unknown runner '${String(this.runner)}' (known: ${HOST_RUNNERS.join(", ")})`);
    this.hv = new Hypervisor({
      frames: options.frames ?? DEFAULT_HOST_FRAMES,
      seed: options.seed,
      ...(options.profile === undefined ? {} : { profile: options.profile }),
    });
    this.grants = new GrantTables(this.hv, options.maptrack === undefined ? {} : { maptrack: options.maptrack });
    this.toolstack = this.store.connect(0);
  }

  /** Create a domain (the first is Dom0), its xenstore home and its kernel context. */
  boot(name: string, maxPages: number, vcpus = 1): Kernel {
    const domain = this.hv.createDomain({ name, maxPages, vcpus });
    if (domain.domid !== 0) libxlDomainMake(this.toolstack, domain.domid, name);
    const vcpu0 = domain.vcpus[0] as Vcpu;
    // xenwatch: this domain's watch events are drained on its VCPU 0 when some are pending.
    const { conn, xenbus } = xenbusInit(this.store, domain.domid, { clock: this.hv.sim.clock, work: this.hv, cpu: vcpu0 });
    const kernel: Kernel = { domain, vcpu0, conn, xenbus, gnttab: new GnttabGuest(this.grants, vcpu0) };
    this.kernels.set(domain.domid, kernel);
    return kernel;
  }

  /** What a driver of this host gets from the layer below (clock, work, evtchn, multicall, memory, trace). */
  kernelOps(): KernelOps {
    return this.hv.kernelOps();
  }

  kernel(domid: number): Kernel | undefined {
    return this.kernels.get(domid);
  }

  /** Serve this host's xenstore on a unix socket, so real Xen tools (xenstore-ls) can look in. */
  async serveXenstore(socketPath: string): Promise<XenstoredServer> {
    this.server ??= await createXenstoredServer(this.store, { socketPath });
    return this.server;
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
