import { Hypervisor } from "@pvnet/hypervisor";
import { Command } from "commander";

/**
 * `pvnet demo`: a first look at the model. Boots Dom0 and one DomU on a small machine, connects
 * them with an interdomain event channel, has the guest notify Dom0 a few times, runs the
 * deterministic scheduler and prints what happened: upcalls delivered, hypercalls by op, the
 * virtual time each VCPU spent.
 */
export function demoCommand(): Command {
  return new Command("demo")
    .summary("boot Dom0 and a DomU, notify over an event channel, print the hypercall and cost report (JSON)")
    .description("Boots Dom0 and one DomU, connects them with an interdomain event channel, has the guest notify Dom0\nfour times and prints, as JSON: upcalls delivered, hypercalls by op, the virtual time each VCPU spent.")
    .action(demo);
}

function demo(): void {
  {
    const hv = new Hypervisor({ frames: 1024, seed: 1 });
    const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 256 });
    const domU = hv.createDomain({ name: "guest", maxPages: 256 });
    const [d0v0] = dom0.vcpus;
    const [guestV0] = domU.vcpus;
    if (d0v0 === undefined || guestV0 === undefined) throw new Error("domains have no VCPU");
    let upcalls = 0;
    const backPort = hv.evtchnAllocUnbound(d0v0, domU.domid);
    const frontPort = hv.evtchnBindInterdomain(guestV0, dom0.domid, backPort);
    hv.bindHandler(dom0, backPort, () => upcalls++);
    for (let i = 0; i < 4; i++) hv.runOn(guestV0, i * 10_000, (v) => hv.evtchnSend(v, frontPort));
    const result = hv.run();
    const report = {
      domains: hv.allDomains().map((d) => ({ domid: d.domid, name: d.name, pages: d.nrPages })),
      eventChannel: { frontPort, backPort, notifications: 4, upcallsInDom0: upcalls },
      hypercalls: hv.stats.snapshot(),
      vcpus: hv.sim.allActors().map((a) => ({ vcpu: a.name, busyNs: a.account.busyNs })),
      run: result,
      traceDigest: hv.sim.trace.digest(),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  }
}
