/**
 * Network namespaces for `pvnet tap`, set up and torn down with iproute2 (`ip netns`, `ip link`,
 * `ip addr`) as a user would by hand: each TAP device is moved into its own namespace, given its
 * address and brought up, so the namespaces can only reach each other through pvnet.
 */
import { execFileSync } from "node:child_process";

/** One end of the wire: a namespace and the address (CIDR) of the TAP device inside it. */
export interface NetnsEnd {
  readonly netns: string;
  readonly addr: string;
}

/** Run `ip ...`; a failure is an Error with ip's own message. */
export function ip(...args: string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(" ")}: ${stderr === undefined || stderr === "" ? (e as Error).message : stderr}`, { cause: e });
  }
}

/** Create namespace `end.netns` (it must not exist) with its loopback up. */
export function addNetns(end: NetnsEnd): void {
  ip("netns", "add", end.netns);
  ip("-n", end.netns, "link", "set", "lo", "up");
}

/** Move device `dev` into the namespace, give it its address and bring it up. */
export function moveIntoNetns(dev: string, end: NetnsEnd): void {
  ip("link", "set", "dev", dev, "netns", end.netns);
  ip("-n", end.netns, "addr", "add", end.addr, "dev", dev);
  ip("-n", end.netns, "link", "set", "dev", dev, "up");
}

/** Delete the namespace (and what is left in it); a namespace already gone is not an error. */
export function deleteNetns(netns: string): void {
  try {
    ip("netns", "del", netns);
  } catch {
    // Already gone (or never created): nothing to remove.
  }
}
