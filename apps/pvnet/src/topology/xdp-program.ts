/**
 * The XDP program of `pvnet run --xdp`: a built-in verdict (drop, pass, tx) or an ES module whose
 * default export is `(frame: Uint8Array) => "pass" | "drop" | "tx" | "aborted"` (or an XDP_*
 * number), loaded by absolute path. The program runs on netfront's receive page (see
 * @pvnet/netfront's xdp.ts); what it throws or returns wrongly is counted as aborted there.
 */
import { pathToFileURL } from "node:url";
import type { Netfront, XdpProgram } from "@pvnet/netfront";

/** The verdicts `--xdp` names directly. */
export const XDP_BUILTINS = ["drop", "pass", "tx"] as const;

/** The program `spec` names: a built-in, or the default export of the module at that absolute path. */
export async function loadXdpProgram(spec: string): Promise<XdpProgram> {
  if (spec === "drop" || spec === "pass" || spec === "tx") return () => spec;
  const mod = (await import(pathToFileURL(spec).href)) as { default?: unknown };
  const prog = mod.default;
  if (typeof prog !== "function") throw new TypeError(`${spec}: the default export is not a function (frame: Uint8Array) => verdict`);
  return prog as XdpProgram;
}

/** Frames an XDP program consumed without delivering them anywhere (dropped, aborted, refused TX, multi-buffer). */
export function xdpConsumed(netfront: Netfront): number {
  const s = netfront.rxPathStats();
  return s.xdpDrop + s.xdpAborted + s.xdpTxErrors + s.xdpMultiBuffer;
}
