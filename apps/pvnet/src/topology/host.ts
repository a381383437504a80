/**
 * A modelled host: the hypervisor, the grant tables, xenstore and the toolstack, plus each
 * domain's kernel context (its xenstore connection, xenbus and guest grant-table driver). Every
 * domain's xenbus watch callbacks run on its VCPU 0 through the deterministic scheduler, like
 * Linux's xenwatch thread, so a whole connection handshake replays from the seed.
 */
import type { CostProfile } from "@pvnet/sim";
import { type Domain, Hypervisor, type Vcpu } from "@pvnet/hypervisor";
import { GnttabGuest, GrantTables, type MaptrackVariant } from "@pvnet/xen-grant-table";
import { type Connection, createXenstoredServer, libxlDomainMake, XenStore, type Xenbus, type XenstoredServer, xenbusInit } from "@pvnet/xenstore";

export interface HostOptions {
  readonly seed: number;
  /** Machine memory in 4 KiB frames. */
  readonly frames?: number;
  readonly profile?: CostProfile;
  readonly maptrack?: MaptrackVariant;
}

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
  readonly hv: Hypervisor;
  readonly grants: GrantTables;
  readonly store = new XenStore();
  /** The toolstack's own privileged connection (xl/libxl in Dom0 user space). */
  readonly toolstack: Connection;
  private readonly kernels = new Map<number, Kernel>();
  private server: XenstoredServer | undefined;

  constructor(options: HostOptions) {
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
