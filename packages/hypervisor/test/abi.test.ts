import { abiFacts } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import { DOMID_INVALID, DOMID_SELF, DOMID_XEN, EVTCHNOP, EVTCHNSTAT, XEN_PAGE_SHIFT } from "../src/index.js";

describe("constants match the Xen public headers (abi-facts.json)", () => {
  const facts = abiFacts();

  test("EVTCHNSTAT values", () => {
    for (const [name, value] of Object.entries(facts.event_channel_h.EVTCHNSTAT as Record<string, number>)) {
      expect(EVTCHNSTAT[name.replace("EVTCHNSTAT_", "") as keyof typeof EVTCHNSTAT], name).toBe(value);
    }
    expect(Object.keys(EVTCHNSTAT).length).toBe(Object.keys(facts.event_channel_h.EVTCHNSTAT).length);
  });

  test("EVTCHNOP values we model", () => {
    const ops = facts.event_channel_h.EVTCHNOP as Record<string, number>;
    for (const [name, value] of Object.entries(EVTCHNOP)) expect(value, name).toBe(ops[`EVTCHNOP_${name}`]);
  });

  test("domid constants and page shift", () => {
    expect(DOMID_SELF).toBe(facts.xen_h_domids.DOMID_SELF);
    expect(DOMID_XEN).toBe(facts.xen_h_domids.DOMID_XEN);
    expect(DOMID_INVALID).toBe(facts.xen_h_domids.DOMID_INVALID);
    expect(XEN_PAGE_SHIFT).toBe(facts.ring_h.XEN_PAGE_SHIFT);
  });
});
