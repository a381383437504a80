/**
 * struct sk_buff_head (include/linux/skbuff.h): a list of skbs linked through skb->next, with
 * its length. The unlocked __skb_* operations; the model runs each list on one VCPU at a time.
 */
import type { SkBuff } from "./skbuff.js";

/** struct sk_buff_head: a list of skbs with its length (the unlocked __skb_queue_* operations). */
export class SkBuffHead {
  head: SkBuff | null = null;
  tail: SkBuff | null = null;
  /** skb_queue_len */
  length = 0;

  /** skb_queue_empty */
  get empty(): boolean {
    return this.length === 0;
  }

  /** skb_peek */
  peek(): SkBuff | null {
    return this.head;
  }

  /** __skb_queue_tail */
  queueTail(skb: SkBuff): void {
    skb.next = null;
    if (this.tail === null) this.head = skb;
    else this.tail.next = skb;
    this.tail = skb;
    this.length++;
  }

  /** __skb_queue_head */
  queueHead(skb: SkBuff): void {
    skb.next = this.head;
    this.head = skb;
    if (this.tail === null) this.tail = skb;
    this.length++;
  }

  /** __skb_dequeue: the first skb, unlinked, or null. */
  dequeue(): SkBuff | null {
    const skb = this.head;
    if (skb === null) return null;
    this.head = skb.next;
    if (this.head === null) this.tail = null;
    skb.next = null;
    this.length--;
    return skb;
  }

  /** __skb_queue_purge: free every skb. */
  purge(): void {
    for (let skb = this.dequeue(); skb !== null; skb = this.dequeue()) skb.free();
  }
}
