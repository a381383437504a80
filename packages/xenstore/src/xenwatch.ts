/**
 * A domain's kernel joining xenstore: its connection and its xenbus, whose watch callbacks run on
 * the xenwatch thread (drivers/xen/xenbus/xenbus_xs.c: xenwatch_thread). The one xenwatch of
 * every runner: the host, and the drivers' test peers, boot each kernel with it.
 */
import type { Connection } from "./connection.js";
import type { XenStore } from "./store.js";
import { Xenbus } from "./xenbus.js";

/** Where a kernel's xenwatch thread runs: deferred work on one of its CPUs, at the clock's time. */
export interface XenwatchRunner<C> {
  readonly clock: {
    /** The current modelled time in ns. */
    now(): number;
  };
  readonly work: {
    /** Run `fn` on `cpu` at modelled time `atNs` (queue_work on that CPU). */
    runOn(cpu: C, atNs: number, fn: (cpu: C) => void): void;
  };
  /** The CPU the thread runs on (Linux's xenwatch is one kthread; the model puts it on VCPU 0). */
  readonly cpu: C;
}

/** A kernel's xenstore connection and its xenbus. */
export interface XenbusKernel {
  readonly conn: Connection;
  readonly xenbus: Xenbus;
}

/**
 * xenbus_init for domain `domid`: connect to `store`, and each time watch events become pending
 * on the connection, run the xenwatch thread on `runner.cpu` to drain them in order.
 */
export function xenbusInit<C>(store: Pick<XenStore, "connect">, domid: number, runner: XenwatchRunner<C>): XenbusKernel {
  let xenbus: Xenbus | undefined;
  const xenwatchThread = (): void => {
    xenbus?.processWatchEvents();
  };
  const conn = store.connect(domid, { onWatchPending: () => runner.work.runOn(runner.cpu, runner.clock.now(), xenwatchThread) });
  xenbus = new Xenbus(conn);
  return { conn, xenbus };
}
