/**
 * xennet_select_queue (drivers/net/xen-netfront.c): queue 0 with one queue, else
 * skb_get_hash(skb) % num_queues — the flow hash of `@pvnet/skb-model`, the one netback's
 * queue selection uses too. Every packet of one flow lands on one queue.
 */
import { type SkBuff, skbGetHash } from "@pvnet/skb-model";

/** xennet_select_queue (no queues yet, before connect: 0 too). */
export function xennetSelectQueue(skb: SkBuff, numQueues: number): number {
  if (numQueues <= 1) return 0;
  return skbGetHash(skb) % numQueues;
}
