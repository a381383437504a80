/**
 * A busy-polling TX path, as a MiniOS guest runs its netfront (mini-os `netfront.c`): the sender
 * reaps TX responses itself (`network_tx_buf_gc` after every push in `netfront_xmit`) and, when
 * the ring is full, spins on `rsp_prod` until the backend has answered, instead of sleeping until
 * an interrupt. A frontend that polls has no use for notifications, so it never writes `rsp_event`
 * after SHARED_RING_INIT: the backend's RING_PUSH_RESPONSES_AND_CHECK_NOTIFY finds the event index
 * behind it and sends no event (only the first push crosses SHARED_RING_INIT's rsp_event = 1).
 *
 * Enabled by `NetfrontOptions.busyPoll`. Only the TX ring is polled: the RX path keeps its
 * interrupt and NAPI poll (MiniOS's `network_rx` also ends in RING_FINAL_CHECK_FOR_RESPONSES).
 */
import type { Vcpu } from "@pvnet/hypervisor";
import type { NetfrontQueue } from "./common.js";
import { xennetTxBufGc } from "./tx.js";

/**
 * How often a spinning sender looks at `rsp_prod` again, in virtual time. One look is a load of a
 * cache line the backend's CPU writes, so it cannot come round faster than a transfer between two
 * cores' caches, of the order of 100 ns on a Xeon of host A's generation (an assumed order of
 * magnitude, not a measurement of host A). The spin's own time is not charged: the spinning VCPU
 * has nothing else to run, so it delays no other work of the model.
 */
export const BUSY_POLL_INTERVAL_NS = 100;

/**
 * The sender found the queue stopped (ring full): spin on `vcpu`, reaping responses with
 * network_tx_buf_gc (xennetTxBufGc, which wakes the queue once a worst-case packet fits again),
 * until the queue runs again. Stops spinning when the device is disabled, the carrier is down or
 * the queue was torn down (nothing would ever answer).
 */
export function netfrontBusyPollTx(q: NetfrontQueue, vcpu: Vcpu): void {
  if (q.busyPollLife === q.generation) return; // already spinning
  const life = q.generation;
  q.busyPollLife = life;
  const spin = (v: Vcpu): void => {
    if (q.generation !== life) return; // torn down since; a newer life spins on its own
    const np = q.info;
    if (!q.live || np.broken || !np.carrier) {
      q.busyPollLife = -1;
      return;
    }
    xennetTxBufGc(q, v);
    if (!q.stopped) {
      q.busyPollLife = -1;
      return;
    }
    np.env.work.setTimer(v, BUSY_POLL_INTERVAL_NS, spin);
  };
  q.info.env.work.setTimer(vcpu, BUSY_POLL_INTERVAL_NS, spin);
}
