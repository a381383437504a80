/**
 * `pvnet tap`: real traffic through pvnet. Each guest of the DomU <-> DomU topology gets a TAP
 * device in its own network namespace (set up with iproute2): what that namespace's kernel sends
 * on the TAP is what the guest's netfront transmits, and what the guest's netfront receives is
 * written back to it. `ip netns exec pvnet-a ping 10.88.0.2` then crosses netfront, netback, Dom0's
 * bridge, netback and the other netfront. Runs until SIGINT or SIGTERM, then removes the devices
 * and namespaces and prints the teardown audit.
 */
import { Command, Option } from "commander";
import { decimalInteger, nonEmpty } from "../cli-options.js";
import { addNetns, deleteNetns, moveIntoNetns, type NetnsEnd } from "../tap/netns.js";
import type { TapDevice as Tap } from "../tap/tun.js";
import { LiveDomuDomu, type LiveDomuDomuReport } from "../topology/live-domu-domu.js";
import { CliError, EXIT, usageError } from "./command.js";
import { MAX_QUEUES } from "./run.js";
import { resolve } from "node:path";

interface TapOptions {
  topology: "domu-domu";
  queues: number;
  persistent: boolean;
  offloads: boolean;
  netns: string;
  addr: string;
  pcap?: string;
  json: boolean;
}

/** A namespace name iproute2 accepts (it becomes a file under /run/netns). */
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** An IPv4 address with its prefix length. */
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function pair(value: string, what: string, check: (v: string) => boolean): [string, string] {
  const parts = value.split(",");
  if (parts.length !== 2 || !parts.every(check)) throw usageError(`--${what} takes two values, one a guest: A,B (got '${value}')`);
  if (parts[0] === parts[1]) throw usageError(`--${what}: the two guests need different values`);
  return parts as [string, string];
}

function isCidr(v: string): boolean {
  const m = CIDR.exec(v);
  if (m === null) return false;
  const prefix = Number(m[5]);
  return m.slice(1, 5).every((o) => Number(o) <= 255) && prefix >= 1 && prefix <= 32;
}

/** The teardown audit as one line a reader can check: every count 0 when nothing leaked. */
export function auditLine(r: LiveDomuDomuReport): string {
  const t = r.teardown;
  const sum = (o: Readonly<Record<string, number>>) => Object.values(o).reduce((s, v) => s + v, 0);
  return (
    `teardown audit: dom0 grants ${t.dom0Grants.maps} maps / ${t.dom0Grants.handles} handles / ${t.dom0Grants.pins} pins, ` +
    `guest grants ${t.guestGrants.maps} / ${t.guestGrants.handles} / ${t.guestGrants.pins}, netback ${sum(t.netback)} outstanding, ` +
    `netfront ${sum(t.netfront)} outstanding, pages in use dom0 ${t.dom0PagesInUse} guests ${t.guestPagesInUse}, event channels ${t.eventChannelsOpen}`
  );
}

/** Whether nothing was left after the teardown. */
export function auditClean(r: LiveDomuDomuReport): boolean {
  const t = r.teardown;
  const zero = (o: Readonly<Record<string, number>>) => Object.values(o).every((v) => v === 0);
  return zero(t.dom0Grants) && zero(t.guestGrants) && zero(t.netback) && zero(t.netfront) && t.dom0PagesInUse === 0 && t.guestPagesInUse === 0 && t.eventChannelsOpen === 0;
}

async function action(o: TapOptions): Promise<void> {
  const names = pair(o.netns, "netns", (v) => NETNS_NAME.test(v));
  const addrs = pair(o.addr, "addr", isCidr);
  if (process.getuid?.() !== 0) {
    throw new CliError("needs root: creating TAP devices and network namespaces takes CAP_NET_ADMIN (run it with sudo)", EXIT.FAILED);
  }
  // koffi (a native module, an optional dependency) is loaded only by this command.
  let TapDevice: typeof import("../tap/tun.js").TapDevice;
  try {
    ({ TapDevice } = await import("../tap/tun.js"));
  } catch (e) {
    throw new CliError(`needs the koffi package (an optional dependency of @pvnet/cli) to open /dev/net/tun: ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
  const ends: NetnsEnd[] = names.map((netns, i) => ({ netns, addr: addrs[i] as string }));
  const made: string[] = [];
  const taps: Tap[] = [];
  let live: LiveDomuDomu | undefined;
  // A signal during setup ends the command once setup is undone.
  let stopRequested: () => void = () => {};
  let signalled = false;
  const onSignal = () => {
    signalled = true;
    stopRequested();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    for (const end of ends) {
      addNetns(end);
      made.push(end.netns);
      const tap = TapDevice.open("pvtap%d", o.offloads);
      taps.push(tap);
      moveIntoNetns(tap.name, end);
    }
    live = new LiveDomuDomu(
      { queues: o.queues, ...(o.persistent ? { persistent: true } : {}), ...(o.pcap === undefined ? {} : { pcap: resolve(o.pcap) }) },
      [taps[0] as Tap, taps[1] as Tap],
    );
    if (!signalled) {
      live.start();
      process.stdout.write(
        `pvnet tap: ready: ${taps[0]?.name} in ${ends[0]?.netns} (${ends[0]?.addr}) <-> guest A's netfront, netback, Dom0's bridge, netback, guest B's netfront <-> ${taps[1]?.name} in ${ends[1]?.netns} (${ends[1]?.addr}); Ctrl-C or SIGTERM stops\n`,
      );
      await new Promise<void>((done) => {
        stopRequested = done;
      });
    }
    const r = live.stop();
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(
        `stopped: guest A sent ${r.a.fromPort} frames and received ${r.a.toPort}, guest B sent ${r.b.fromPort} and received ${r.b.toPort} ` +
          `(${r.queues} queue${r.queues === 1 ? "" : "s"}${r.persistent ? ", persistent grants" : ""}${o.offloads ? ", offloads" : ""}, ${(r.modelledNs / 1e6).toFixed(3)} ms modelled)\n`,
      );
      for (const f of r.pcap ?? []) process.stdout.write(`captured ${f.packets} frames in ${f.path}\n`);
      process.stdout.write(`${auditLine(r)}\n`);
    }
    if (!auditClean(r)) process.exitCode = EXIT.FAILED;
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.FAILED, { cause: e });
  } finally {
    for (const t of taps) t.close();
    for (const ns of made) deleteNetns(ns);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export function tapCommand(): Command {
  return new Command("tap")
    .summary("carry real traffic between two network namespaces through pvnet (TAP devices; root)")
    .description(
      "Creates a TAP device for each guest of the DomU <-> DomU topology in its own network namespace (iproute2): frames the " +
        "namespace sends on it are what the guest's netfront transmits, frames the guest's netfront receives are written back. " +
        "Then `ip netns exec pvnet-a ping 10.88.0.2` or iperf3 crosses netfront, netback, Dom0's bridge, netback and netfront. " +
        "The virtual clock runs when frames arrive. Runs until Ctrl-C or SIGTERM, then removes the devices and namespaces, " +
        "releases every grant and prints the teardown audit. Needs root.",
    )
    .addOption(new Option("--topology <name>", "which machines are wired").choices(["domu-domu"]).default("domu-domu"))
    .addOption(new Option("--queues <n>", `queues each frontend asks for (1..${MAX_QUEUES})`).argParser(decimalInteger(1, MAX_QUEUES)).default(1))
    .addOption(new Option("--persistent", "persistent grants in netfront and netback").default(false))
    .addOption(new Option("--no-offloads", "no IFF_VNET_HDR: the namespaces checksum and segment every frame themselves (by default 64 KiB TCP segments cross as one packet, csum_blank)"))
    .addOption(new Option("--netns <a,b>", "the two network namespaces (created, must not exist)").argParser(nonEmpty("two names")).default("pvnet-a,pvnet-b"))
    .addOption(new Option("--addr <a,b>", "the TAP devices' IPv4 addresses with prefix").argParser(nonEmpty("two addresses")).default("10.88.0.1/24,10.88.0.2/24"))
    .addOption(new Option("--pcap <dir>", "write one libpcap file per vif and direction into this directory").argParser(nonEmpty("a directory")))
    .addOption(new Option("--json", "print the final report as one JSON object").default(false))
    .addHelpText("after", "\nExample:\n  sudo pvnet tap &\n  sudo ip netns exec pvnet-a ping -c 3 10.88.0.2\n  kill %1")
    .action(action);
}
