import { Hypervisor } from "@pvnet/hypervisor";
import { Command, Option } from "commander";
import { formatNs, percent, table } from "../cli-format.js";
import { hypercallTable } from "./run-output.js";

/** Notifications the guest sends Dom0 in the demo, one every DEMO_SEND_GAP_NS of virtual time. */
const DEMO_NOTIFICATIONS = 4;
/** Virtual time between two notifications: far longer than a send costs, so each is its own upcall. */
const DEMO_SEND_GAP_NS = 10_000;

/** What `pvnet demo --json` prints. */
export interface DemoReport {
  readonly domains: readonly { readonly domid: number; readonly name: string; readonly pages: number }[];
  readonly eventChannel: { readonly frontPort: number; readonly backPort: number; readonly notifications: number; readonly upcallsInDom0: number };
  readonly hypercalls: ReturnType<Hypervisor["stats"]["snapshot"]>;
  readonly vcpus: readonly { readonly vcpu: string; readonly busyNs: number }[];
  readonly run: ReturnType<Hypervisor["run"]>;
  readonly traceDigest: string;
}

/**
 * `pvnet demo`: a first look at the model. Boots Dom0 and one DomU on a small machine, connects
 * them with an interdomain event channel, has the guest notify Dom0 a few times, runs the
 * deterministic scheduler and prints what happened: upcalls delivered, hypercalls by op, the
 * virtual time each VCPU spent — as tables, or as one JSON object with `--json`.
 */
export function demoCommand(): Command {
  return new Command("demo")
    .summary("boot Dom0 and a DomU, notify over an event channel, print the hypercall and cost report")
    .description(
      `Boots Dom0 and one DomU, connects them with an interdomain event channel, has the guest notify Dom0\n${DEMO_NOTIFICATIONS} times and prints upcalls delivered, hypercalls by op and the virtual time each VCPU spent.`,
    )
    .addOption(new Option("--json", "print the report as one JSON object instead of tables").default(false))
    .action((o: { json: boolean }) => {
      const report = runDemo();
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : printDemo(report));
    });
}

/** The demo's run: two domains, one event channel, DEMO_NOTIFICATIONS sends (deterministic, seed 1). */
export function runDemo(): DemoReport {
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
  for (let i = 0; i < DEMO_NOTIFICATIONS; i++) hv.runOn(guestV0, i * DEMO_SEND_GAP_NS, (v) => hv.evtchnSend(v, frontPort));
  const result = hv.run();
  return {
    domains: hv.allDomains().map((d) => ({ domid: d.domid, name: d.name, pages: d.nrPages })),
    eventChannel: { frontPort, backPort, notifications: DEMO_NOTIFICATIONS, upcallsInDom0: upcalls },
    hypercalls: hv.stats.snapshot(),
    vcpus: hv.sim.allActors().map((a) => ({ vcpu: a.name, busyNs: a.account.busyNs })),
    run: result,
    traceDigest: hv.sim.trace.digest(),
  };
}

/** The demo's tables for a person. */
export function printDemo(r: DemoReport): string {
  const [back, front] = r.domains;
  const head = `pvnet demo: ${r.domains.length} domains, one interdomain event channel, seed 1, trace ${r.traceDigest}\n`;
  const domains = table(
    "Domains",
    ["domid", "name", "pages"],
    r.domains.map((d) => [d.domid, d.name, d.pages]),
    ["right", "left", "right"],
  );
  const channel = `${table(
    "Event channel (interdomain)",
    ["end", "domain", "port", "events"],
    [
      ["frontend (sends)", front?.name ?? "-", r.eventChannel.frontPort, `${r.eventChannel.notifications} notifications sent`],
      ["backend (upcalls)", back?.name ?? "-", r.eventChannel.backPort, `${r.eventChannel.upcallsInDom0} upcalls delivered`],
    ],
    ["left", "left", "right", "left"],
  )}  ${r.eventChannel.upcallsInDom0 === r.eventChannel.notifications ? "Every notification reached Dom0's handler." : `${r.eventChannel.notifications - r.eventChannel.upcallsInDom0} notifications never reached Dom0's handler.`}\n`;
  const vcpus = table(
    "Modelled time per VCPU (busy share of the whole run)",
    ["vcpu", "busy", "busy share"],
    r.vcpus.map((v) => [v.vcpu, formatNs(v.busyNs), percent(v.busyNs, r.run.nowNs)]),
  );
  const run = table(
    "Scheduler",
    ["", "value"],
    [
      ["events run", r.run.events],
      ["stopped because", r.run.reason],
      ["modelled time", formatNs(r.run.nowNs)],
    ],
  );
  return [head, domains, channel, hypercallTable(r.hypercalls), vcpus, run].join("\n");
}
