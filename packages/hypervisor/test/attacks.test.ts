// Attack catalogue of 2-level event channels: each scenario replays what a hostile guest does
// through EVTCHNOP_* or its own shared_info, and asserts what xen/common/event_channel.c and
// event_2l.c answer (the -errno, in Xen's order of checks) and that no other domain is affected.
import { describe, expect, test } from "vitest";
import { EVTCHN_NR_PORTS, EVTCHNSTAT, Hypervisor, SHARED_INFO, type Vcpu } from "../src/index.js";

const xenError = (code: string) => expect.objectContaining({ name: "XenError", code });

function world() {
  const hv = new Hypervisor({ frames: 256, seed: 5 });
  const dom0 = hv.createDomain({ name: "Domain-0", maxPages: 16, vcpus: 2 });
  const evil = hv.createDomain({ name: "evil", maxPages: 16, vcpus: 2 });
  const good = hv.createDomain({ name: "good", maxPages: 16, vcpus: 1 });
  const d0 = dom0.vcpus[0] as Vcpu;
  const e0 = evil.vcpus[0] as Vcpu;
  const g0 = good.vcpus[0] as Vcpu;
  /** dom0 <-> domain channel: [dom0's port, the domain's port]. */
  const connect = (v: Vcpu) => {
    const back = hv.evtchnAllocUnbound(d0, v.domain.domid);
    const front = hv.evtchnBindInterdomain(v, dom0.domid, back);
    return [back, front] as const;
  };
  return { hv, dom0, evil, good, d0, e0, g0, connect };
}

/** Bytes of a frame, to show it did not change. */
const frameCopy = (hv: Hypervisor, mfn: number) => hv.machine.frameBytes(mfn).slice();

describe("event channel attacks", () => {
  test("XSA-221 (port numbers not validated): every EVTCHNOP with port 0, negative, fractional, NaN or beyond the limit is EINVAL, nothing touched", () => {
    const { hv, dom0, evil, e0, connect } = world();
    const [back] = connect(e0);
    const before = frameCopy(hv, hv.evtchnOf(dom0.domid).sharedInfoMfn);
    const bad = [0, -1, 1.5, Number.NaN, EVTCHN_NR_PORTS, 4096, 2 ** 31, 2 ** 32 + 1];
    for (const port of bad) {
      expect(() => hv.evtchnSend(e0, port)).toThrow(xenError("EINVAL"));
      expect(() => hv.evtchnUnmask(e0, port)).toThrow(xenError("EINVAL"));
      expect(() => hv.evtchnClose(e0, port)).toThrow(xenError("EINVAL"));
      expect(() => hv.evtchnStatus(e0, evil.domid, port)).toThrow(xenError("EINVAL"));
      expect(() => hv.evtchnBindVcpu(e0, port, 0)).toThrow(xenError("EINVAL"));
      expect(() => hv.evtchnBindInterdomain(e0, dom0.domid, port)).toThrow(xenError("EINVAL"));
    }
    expect(Buffer.compare(hv.machine.frameBytes(hv.evtchnOf(dom0.domid).sharedInfoMfn), before)).toBe(0);
    expect(hv.evtchnOf(dom0.domid).state(back)).toBe(EVTCHNSTAT.interdomain);
  });

  test("XSA-342 (2-level port limit): ports stop below the limit with ENOSPC; every pending bit stays inside the shared_info bitmaps", () => {
    const { hv, evil, dom0, e0 } = world();
    const ports: number[] = [];
    for (;;) {
      try {
        ports.push(hv.evtchnAllocUnbound(e0, dom0.domid));
      } catch (e) {
        expect(e).toEqual(xenError("ENOSPC"));
        break;
      }
    }
    expect(ports.length).toBe(EVTCHN_NR_PORTS - 1); // port 0 is reserved
    expect(Math.max(...ports)).toBeLessThan(EVTCHN_NR_PORTS);
    // 2-level on a 64-bit guest addresses 64 x 64 ports: the limit fits in evtchn_pending[].
    expect(EVTCHN_NR_PORTS).toBeLessThanOrEqual(64 * 64);
    const si = hv.evtchnOf(evil.domid);
    for (const p of ports) si.setPending(p);
    const frame = hv.machine.frameBytes(si.sharedInfoMfn);
    const pendingBytes = EVTCHN_NR_PORTS / 8;
    expect(frame.subarray(SHARED_INFO.EVTCHN_PENDING + pendingBytes, SHARED_INFO.EVTCHN_MASK).every((b) => b === 0)).toBe(true);
    expect(frame.subarray(SHARED_INFO.EVTCHN_MASK).every((b) => b === 0)).toBe(true);
  });

  test("binding to ports not offered, already bound, closed or of a missing domain: ESRCH / EINVAL in Xen's order", () => {
    const { hv, dom0, good, d0, e0, g0 } = world();
    const toGood = hv.evtchnAllocUnbound(d0, good.domid);
    expect(() => hv.evtchnBindInterdomain(e0, dom0.domid, toGood)).toThrow(xenError("EINVAL")); // offered to another domain
    expect(() => hv.evtchnBindInterdomain(e0, 4242, toGood)).toThrow(xenError("ESRCH"));
    hv.evtchnBindInterdomain(g0, dom0.domid, toGood);
    expect(() => hv.evtchnBindInterdomain(e0, dom0.domid, toGood)).toThrow(xenError("EINVAL")); // already interdomain
    expect(() => hv.evtchnBindInterdomain(g0, dom0.domid, toGood)).toThrow(xenError("EINVAL")); // even for its grantee
    // A local port is found before the remote one is checked: a full table is ENOSPC first.
    for (;;) {
      try {
        hv.evtchnAllocUnbound(e0, dom0.domid);
      } catch {
        break;
      }
    }
    expect(() => hv.evtchnBindInterdomain(e0, dom0.domid, 0)).toThrow(xenError("ENOSPC"));
  });

  test("EVTCHNOP_bind_vcpu checks the VCPU before the port (ENOENT, then EINVAL)", () => {
    const { hv, e0, connect } = world();
    const [, front] = connect(e0);
    expect(() => hv.evtchnBindVcpu(e0, 9999, 7)).toThrow(xenError("ENOENT"));
    expect(() => hv.evtchnBindVcpu(e0, front, -1)).toThrow(xenError("ENOENT"));
    expect(() => hv.evtchnBindVcpu(e0, front, 2)).toThrow(xenError("ENOENT"));
    expect(() => hv.evtchnBindVcpu(e0, 9999, 1)).toThrow(xenError("EINVAL"));
    hv.evtchnBindVcpu(e0, front, 1);
    expect(hv.evtchnStatus(e0, e0.domain.domid, front).vcpu).toBe(1);
  });

  test("EVTCHNOP_status of another domain's port is EPERM for an unprivileged domain (xsm_evtchn_status, XSM_TARGET); Dom0 may", () => {
    const { hv, dom0, good, d0, e0, g0, connect } = world();
    const [back, front] = connect(g0);
    expect(() => hv.evtchnStatus(e0, dom0.domid, back)).toThrow(xenError("EPERM"));
    expect(() => hv.evtchnStatus(e0, good.domid, front)).toThrow(xenError("EPERM"));
    expect(() => hv.evtchnStatus(e0, 4242, front)).toThrow(xenError("ESRCH")); // domain first
    expect(() => hv.evtchnStatus(e0, good.domid, 0)).toThrow(xenError("EINVAL")); // then the port, then XSM
    expect(hv.evtchnStatus(d0, good.domid, front)).toEqual({ status: EVTCHNSTAT.interdomain, vcpu: 0, remoteDom: dom0.domid, remotePort: back });
  });

  test("event storm (the XSA-391 class, hypervisor half): 10 000 sends from a rogue peer coalesce into one upcall; another peer's event is still delivered", () => {
    const { hv, dom0, d0, e0, g0, connect } = world();
    const [evilBack, evilFront] = connect(e0);
    const [goodBack, goodFront] = connect(g0);
    const seen: number[] = [];
    hv.bindHandler(dom0, evilBack, (p) => seen.push(p));
    hv.bindHandler(dom0, goodBack, (p) => seen.push(p));
    hv.run(); // the bind-time notifications
    seen.length = 0;
    const sendsBefore = hv.stats.get("event_channel_op:send").calls;
    for (let i = 0; i < 10_000; i++) hv.evtchnSend(e0, evilFront);
    hv.evtchnSend(g0, goodFront);
    hv.run();
    expect(hv.stats.get("event_channel_op:send").calls - sendsBefore).toBe(10_001);
    expect(seen.filter((p) => p === evilBack).length).toBe(1);
    expect(seen.filter((p) => p === goodBack).length).toBe(1);
    expect(d0.domain.domid).toBe(dom0.domid);
  });

  test("a guest scribbling its own shared_info (every selector, pending and mask bit) gets bounded upcalls and no other domain's state changes", () => {
    const { hv, dom0, evil, e0, connect } = world();
    const [back, front] = connect(e0);
    const calls: number[] = [];
    hv.bindHandler(evil, front, (p) => calls.push(p));
    hv.run();
    calls.length = 0;
    const dom0Info = frameCopy(hv, hv.evtchnOf(dom0.domid).sharedInfoMfn);
    const si = hv.evtchnOf(evil.domid);
    const frame = hv.machine.frameBytes(si.sharedInfoMfn);
    frame.fill(0xff, 0, 4096); // vcpu_info of every VCPU, pending bitmap, mask bitmap
    frame.fill(0, SHARED_INFO.EVTCHN_MASK, SHARED_INFO.EVTCHN_MASK + 512); // unmask all
    expect(() => hv.doUpcall(e0)).not.toThrow();
    expect(calls).toEqual([front]); // only ports with a handler run, once
    expect(si.upcallPending(0)).toBe(false);
    expect(Buffer.compare(hv.machine.frameBytes(hv.evtchnOf(dom0.domid).sharedInfoMfn), dom0Info)).toBe(0);
    // The channel still works both ways afterwards.
    let dom0Got = 0;
    hv.bindHandler(dom0, back, () => dom0Got++);
    hv.evtchnSend(e0, front);
    hv.run();
    expect(dom0Got).toBe(1);
  });

  test("closing a pending port clears its pending bit (evtchn_free), so a port allocated again is not spuriously pending", () => {
    const { hv, dom0, evil, d0, e0, connect } = world();
    const [back, front] = connect(e0);
    hv.maskEvtchn(dom0, back);
    hv.evtchnSend(e0, front);
    const si0 = hv.evtchnOf(dom0.domid);
    expect(si0.isPending(back)).toBe(true);
    hv.evtchnClose(d0, back);
    expect(si0.isPending(back)).toBe(false);
    expect(hv.evtchnOf(evil.domid).state(front)).toBe(EVTCHNSTAT.unbound);
    const again = hv.evtchnAllocUnbound(d0, evil.domid);
    expect(again).toBe(back);
    expect(si0.isPending(again)).toBe(false);
    hv.evtchnSend(e0, front); // peer's port is unbound now: silently dropped
    expect(si0.isPending(again)).toBe(false);
  });

  test("a peer that is destroyed leaves our port unbound; sends on it are dropped and it can be closed", () => {
    const { hv, dom0, evil, d0, e0, connect } = world();
    const [back, front] = connect(e0);
    hv.destroyDomain(evil.domid);
    expect(hv.evtchnOf(dom0.domid).state(back)).toBe(EVTCHNSTAT.unbound);
    expect(() => hv.evtchnSend(d0, back)).not.toThrow();
    expect(() => hv.evtchnSend(e0, front)).toThrow(xenError("ESRCH")); // the dead domain's VCPU
    hv.evtchnClose(d0, back);
    expect(hv.evtchnOf(dom0.domid).openPorts()).toEqual([]);
  });
});
