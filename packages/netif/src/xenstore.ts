/**
 * Xenstore keys and paths of a vif (netif.h's "xenstore keys" section plus the keys Linux
 * netfront/netback read and write), as typed constants, and the path builders.
 */

/** Every xenstore key a vif frontend/backend pair uses. */
export const NETIF_XS_KEY = Object.freeze({
  // Data rings and event channels (top level with one queue, under queue-N with several).
  TX_RING_REF: "tx-ring-ref",
  RX_RING_REF: "rx-ring-ref",
  EVENT_CHANNEL: "event-channel",
  EVENT_CHANNEL_TX: "event-channel-tx",
  EVENT_CHANNEL_RX: "event-channel-rx",
  // Multi-queue.
  MULTI_QUEUE_MAX_QUEUES: "multi-queue-max-queues",
  MULTI_QUEUE_NUM_QUEUES: "multi-queue-num-queues",
  // Features.
  FEATURE_SG: "feature-sg",
  FEATURE_GSO_TCPV4: "feature-gso-tcpv4",
  FEATURE_GSO_TCPV6: "feature-gso-tcpv6",
  FEATURE_RX_COPY: "feature-rx-copy",
  REQUEST_RX_COPY: "request-rx-copy",
  FEATURE_RX_FLIP: "feature-rx-flip",
  FEATURE_RX_NOTIFY: "feature-rx-notify",
  FEATURE_SPLIT_EVENT_CHANNELS: "feature-split-event-channels",
  FEATURE_NO_CSUM_OFFLOAD: "feature-no-csum-offload",
  FEATURE_IPV6_CSUM_OFFLOAD: "feature-ipv6-csum-offload",
  FEATURE_PERSISTENT: "feature-persistent",
  FEATURE_MULTICAST_CONTROL: "feature-multicast-control",
  FEATURE_DYNAMIC_MULTICAST_CONTROL: "feature-dynamic-multicast-control",
  REQUEST_MULTICAST_CONTROL: "request-multicast-control",
  FEATURE_CTRL_RING: "feature-ctrl-ring",
  CTRL_RING_REF: "ctrl-ring-ref",
  EVENT_CHANNEL_CTRL: "event-channel-ctrl",
  FEATURE_XDP_HEADROOM: "feature-xdp-headroom",
  XDP_HEADROOM: "xdp-headroom",
  // Device.
  TRUSTED: "trusted",
  CARRIER: "carrier",
  MTU: "mtu",
  MAC: "mac",
  HANDLE: "handle",
  STATE: "state",
  BACKEND: "backend",
  BACKEND_ID: "backend-id",
  FRONTEND: "frontend",
  FRONTEND_ID: "frontend-id",
});
/** A xenstore key of the netif protocol (a value of NETIF_XS_KEY). */
export type NetifXsKey = (typeof NETIF_XS_KEY)[keyof typeof NETIF_XS_KEY];

/** enum xenbus_state (xen/include/public/io/xenbus.h): one definition, in @pvnet/xenstore's xenbus. */
export { XenbusState } from "@pvnet/xenstore";

/**
 * Largest domid a path may name (DOMID_FIRST_RESERVED - 1 = 0x7FEF): paths never name the special
 * DOMID_* values.
 */
export const NETIF_MAX_DOMID = 0x7fef;
/** Largest vif handle / queue number a path may carry: Linux parses them as unsigned ints. */
export const NETIF_MAX_HANDLE = 0xffffffff;

function checkId(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} not in 0..${max}`);
}

/** `/local/domain/<fe>/device/vif/<handle>`: the frontend directory. */
export function netifFrontendDir(frontendDomid: number, handle: number): string {
  checkId("frontend domid", frontendDomid, NETIF_MAX_DOMID);
  checkId("vif handle", handle, NETIF_MAX_HANDLE);
  return `/local/domain/${frontendDomid}/device/vif/${handle}`;
}

/** `/local/domain/<be>/backend/vif/<fe>/<handle>`: the backend directory. */
export function netifBackendDir(backendDomid: number, frontendDomid: number, handle: number): string {
  checkId("backend domid", backendDomid, NETIF_MAX_DOMID);
  checkId("frontend domid", frontendDomid, NETIF_MAX_DOMID);
  checkId("vif handle", handle, NETIF_MAX_HANDLE);
  return `/local/domain/${backendDomid}/backend/vif/${frontendDomid}/${handle}`;
}

/**
 * Directory holding one queue's ring-ref and event-channel keys: the frontend directory itself
 * with one queue, `<dir>/queue-<n>` with several (netif.h "multi-queue-num-queues").
 */
export function netifQueueDir(frontendDir: string, queue: number, numQueues: number): string {
  checkId("queue count", numQueues, NETIF_MAX_HANDLE);
  if (numQueues < 1 || !Number.isInteger(queue) || queue < 0 || queue >= numQueues) {
    throw new RangeError(`queue ${queue} of ${numQueues}`);
  }
  return numQueues === 1 ? frontendDir : `${frontendDir}/queue-${queue}`;
}

/** `<dir>/<key>` */
export function netifPath(dir: string, key: NetifXsKey): string {
  return `${dir}/${key}`;
}
