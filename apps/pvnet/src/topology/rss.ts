/**
 * What a control-ring frontend sends when receive-side scaling is configured (`pvnet run
 * --ctrl-ring`): the Windows PV drivers' XENVIF controller.c passes NDIS's RSS parameters on to
 * netback as XEN_NETIF_CTRL_TYPE_SET_HASH_* messages (algorithm Toeplitz, IPv4 and IPv4/TCP
 * hash types, the key, the indirection table as the mapping). Linux netfront has no control ring.
 *
 * Public sources: Xen xen/include/public/io/netif.h (the control ring messages); Microsoft's
 * "Verifying the RSS Hash Calculation" (the 40-byte verification key, NDIS's default); the
 * win-pv-drivers xenvif/controller.c (xenbits.xen.org).
 */
import type { Xenvif } from "@pvnet/netback";
import { xenvifCtrl } from "@pvnet/netback";
import type { XennetCtrlRing } from "@pvnet/netfront";
import { XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, XEN_NETIF_CTRL_STATUS_SUCCESS } from "@pvnet/netif";

/** Microsoft's RSS verification key (40 bytes, the size XEN_NETBK_MAX_HASH_KEY_SIZE allows). */
export const RSS_VERIFICATION_KEY = Uint8Array.from(Buffer.from("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa", "hex"));

/** NDIS's indirection table size (NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2 / 4 bytes: 128 entries), netback's XEN_NETBK_MAX_HASH_MAPPING_SIZE. */
export const RSS_INDIRECTION_ENTRIES = 128;

/** The indirection table an RSS-enabled stack fills by default: entry i names queue i mod n. */
export function rssIndirectionTable(queues: number): number[] {
  return Array.from({ length: RSS_INDIRECTION_ENTRIES }, (_, i) => i % queues);
}

/** What the control ring did, in a run's report. */
export interface CtrlRingReport {
  /** The backend's status of each request, in ring order (XEN_NETIF_CTRL_STATUS_*). */
  readonly statuses: readonly number[];
  /** The mapping netback uses (hash mod its size names the queue). */
  readonly mapping: readonly number[];
}

/**
 * Configure RSS over `ctrl` (connected) and run `settle` until the backend answered; throws when
 * a request failed or the vif did not take the mapping.
 */
export function configureRss(ctrl: XennetCtrlRing, vif: Xenvif, queues: number, settle: () => void): CtrlRingReport {
  if (!ctrl.connected) throw new Error("the backend did not offer feature-ctrl-ring");
  const table = rssIndirectionTable(queues);
  if (!ctrl.setToeplitz(RSS_VERIFICATION_KEY, XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, table)) throw new Error("the control ring is full");
  settle();
  const statuses = ctrl.replies.map((r) => r.status);
  const mapping = xenvifCtrl(vif)?.hash.liveMapping() ?? [];
  if (statuses.some((s) => s !== XEN_NETIF_CTRL_STATUS_SUCCESS) || mapping.join() !== table.join()) {
    throw new Error(`netback refused the hash configuration (statuses ${statuses.join(",")})`);
  }
  return { statuses, mapping };
}

/** Frames each queue of `vif` carried: towards the guest (`rx`, the vif's tx_packets) or from it. */
export function queuePackets(vif: Xenvif, direction: "tx" | "rx"): number[] {
  return vif.queues.map((q) => (direction === "rx" ? q.stats.txPackets : q.stats.rxPackets));
}
