import { parseArgs } from "node:util";
import { HOST_PROFILES } from "@pvnet/hypervisor";
import type { HeaderCopyMode, TxHypercallMode } from "@pvnet/netback";
import { SEED5_WORST_CASE, type SkbDesc, skbDescLen } from "@pvnet/skb-model";
import { DEFAULT_WINDOW_BYTES } from "../topology/devices.js";
import { type Direction, runDomuDom0 } from "../topology/domu-dom0.js";
import { runDomuDomu } from "../topology/domu-domu.js";
import type { Command } from "./command.js";

const USAGE = `usage: pvnet run [--topology domu-dom0|domu-domu] [--direction tx|rx] --pkt-size N --packets N
                 [--queues N] [--seed N] [--burst N] [--clone-skbs N] [--window-bytes N]
                 [--layout seed5|JSON]
                 [--header-copy multi-slot|first-slot] [--tx-hypercalls two|multicall] [--persistent]
                 [--profile NAME] [--xenstored SOCKET] [--json]

Runs one deterministic scenario. domu-dom0: the guest (tx) or Dom0 (rx) sends N stamped frames of
the given size through netfront/netback. domu-domu: guest A sends them to guest B through netback
and a learning bridge in Dom0 (--direction is tx). Either keeps at most --window-bytes in flight (default 256 KiB; 0 sends
as fast as the driver takes them, like pktgen); prints what was delivered, the vif's counters, hypercalls by op,
the model's wall-clock speed and the cost profile's prediction.
`;

/**
 * --layout: `seed5` (the 51-slot skb of the 2013 netback compound-page notes) or an skb description as JSON, e.g.
 * '{"linearLen":40,"frags":[{"size":1000,"offset":0,"order":0}]}'. The frame size becomes the
 * layout's length unless --pkt-size says the same.
 */
function parseLayout(value: string | undefined): SkbDesc | undefined {
  if (value === undefined) return undefined;
  if (value === "seed5") return SEED5_WORST_CASE;
  try {
    return JSON.parse(value) as SkbDesc;
  } catch (e) {
    throw new RangeError(`--layout must be seed5 or an skb description in JSON (${(e as Error).message})`);
  }
}

/** A packet rate in the unit that reads best. */
function rate(mpps: number): string {
  return mpps >= 1 ? `${mpps.toFixed(2)} Mpps` : `${(mpps * 1000).toFixed(1)} Kpps`;
}

function int(name: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new RangeError(`--${name} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** `pvnet run`: one topology, one direction, one packet size. */
export const run: Command = {
  name: "run",
  summary: "run a topology scenario (DomU <-> Dom0, DomU <-> DomU) and report delivery, counters, hypercalls and speed",
  async run(args: string[]): Promise<number> {
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          topology: { type: "string", default: "domu-dom0" },
          direction: { type: "string", default: "tx" },
          "pkt-size": { type: "string" },
          packets: { type: "string" },
          queues: { type: "string" },
          seed: { type: "string" },
          burst: { type: "string" },
          "clone-skbs": { type: "string" },
          "window-bytes": { type: "string" },
          layout: { type: "string" },
          "header-copy": { type: "string" },
          "tx-hypercalls": { type: "string" },
          profile: { type: "string" },
          xenstored: { type: "string" },
          persistent: { type: "boolean", default: false },
          json: { type: "boolean", default: false },
          help: { type: "boolean", short: "h", default: false },
        },
        strict: true,
      }));
    } catch (e) {
      process.stderr.write(`pvnet run: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    try {
      const topology = values.topology as string;
      if (topology !== "domu-dom0" && topology !== "domu-domu") throw new RangeError(`unknown topology '${topology}' (known: domu-dom0, domu-domu)`);
      const direction = values.direction as Direction;
      if (direction !== "tx" && direction !== "rx") throw new RangeError(`--direction must be tx or rx`);
      if (topology === "domu-domu" && direction !== "tx") throw new RangeError("domu-domu sends from guest A to guest B: --direction tx");
      const headerCopy = values["header-copy"] as HeaderCopyMode | undefined;
      if (headerCopy !== undefined && headerCopy !== "multi-slot" && headerCopy !== "first-slot") throw new RangeError("--header-copy must be multi-slot or first-slot");
      const txHypercalls = values["tx-hypercalls"] as TxHypercallMode | undefined;
      if (txHypercalls !== undefined && txHypercalls !== "two" && txHypercalls !== "multicall") throw new RangeError("--tx-hypercalls must be two or multicall");
      const layout = parseLayout(values.layout as string | undefined);
      const profileName = values.profile as string | undefined;
      const profile = profileName === undefined ? undefined : HOST_PROFILES[profileName];
      if (profileName !== undefined && profile === undefined) throw new RangeError(`unknown profile '${profileName}' (known: ${Object.keys(HOST_PROFILES).join(", ")})`);
      const traffic = {
        seed: int("seed", values.seed as string | undefined, 1),
        pktSize: int("pkt-size", values["pkt-size"] as string | undefined, layout === undefined ? undefined : skbDescLen(layout)),
        packets: int("packets", values.packets as string | undefined),
        queues: int("queues", values.queues as string | undefined, 1),
        burst: int("burst", values.burst as string | undefined, 1),
        cloneSkbs: int("clone-skbs", values["clone-skbs"] as string | undefined, 0),
        windowBytes: int("window-bytes", values["window-bytes"] as string | undefined, DEFAULT_WINDOW_BYTES),
        ...(layout === undefined ? {} : { layout }),
        ...(headerCopy === undefined ? {} : { headerCopy }),
        ...(txHypercalls === undefined ? {} : { txHypercalls }),
        ...(profile === undefined ? {} : { profile }),
        ...(values.persistent === true ? { persistent: true } : {}),
      };
      const report =
        topology === "domu-domu"
          ? await runDomuDomu(traffic)
          : await runDomuDom0({ ...traffic, direction, ...(values.xenstored === undefined ? {} : { xenstoreSocket: values.xenstored as string }) });
      if (values.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        const r = report;
        process.stdout.write(
          [
            `${r.topology} ${r.direction} pkt-size ${r.pktSize} queues ${r.queues} seed ${r.seed}${r.persistent ? " persistent grants" : ""}`,
            `sent ${r.packetsSent}  delivered ${r.packetsDelivered} (${r.bytesDelivered} bytes)  dropped ${r.dropped}  corrupt ${r.corrupt}`,
            `model speed here: ${rate(r.wall.mpps)}, ${r.wall.gbit.toFixed(3)} Gbit/s (${r.wall.seconds.toFixed(2)} s wall)`,
            `predicted (${r.modelled.profile}): ${rate(r.modelled.mpps)}, ${r.modelled.gbit.toFixed(2)} Gbit/s`,
            `hypercalls: ${Object.entries(r.hypercalls.byOp)
              .map(([op, c]) => `${op} ${c.calls}/${c.ops}`)
              .join(", ")}`,
            "",
          ].join("\n"),
        );
      }
      return report.corrupt === 0 ? 0 : 1;
    } catch (e) {
      if (e instanceof RangeError) {
        process.stderr.write(`pvnet run: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
  },
};
