import { BackRing, constRingSize, defineRingLayout, FrontRing, ringMemoryOver, SharedRing, SRING_HEADER } from "@pvnet/shared-ring";
import { abiFacts } from "@pvnet/testkit";
import { describe, expect, it } from "vitest";

const ring = abiFacts().ring_h;
/** The three rings abi-facts.json describes, with their slot sizes from netif.h. */
const SRINGS = ["netif_tx_sring", "netif_rx_sring", "xen_netif_ctrl_sring"] as const;

describe("sring header and sizes against abi-facts.json", () => {
  it("RING_IDX is 4 bytes and pages are 4096", () => {
    expect(ring.sizeof_RING_IDX).toBe(4);
    expect(ring.XEN_PAGE_SHIFT).toBe(12);
  });

  it.each(SRINGS)("%s header fields sit at the real offsets", (name) => {
    const fields = new Map<string, { offset: number; size: number }>(ring[name].fields.map((f: { name: string }) => [f.name, f]));
    expect(ring[name].header_bytes).toBe(SRING_HEADER.SIZEOF);
    expect(fields.get("req_prod")).toMatchObject({ offset: SRING_HEADER.REQ_PROD, size: 4 });
    expect(fields.get("req_event")).toMatchObject({ offset: SRING_HEADER.REQ_EVENT, size: 4 });
    expect(fields.get("rsp_prod")).toMatchObject({ offset: SRING_HEADER.RSP_PROD, size: 4 });
    expect(fields.get("rsp_event")).toMatchObject({ offset: SRING_HEADER.RSP_EVENT, size: 4 });
    expect(fields.get("pvt")).toMatchObject({ offset: SRING_HEADER.PVT, size: SRING_HEADER.PVT_SIZE });
    expect(fields.get("__pad")).toMatchObject({ offset: SRING_HEADER.PAD, size: SRING_HEADER.PAD_SIZE });
    expect(fields.get("ring")?.offset).toBe(SRING_HEADER.RING);
  });

  it.each(SRINGS)("%s: __CONST_RING_SIZE for 1, 2, 4 and 8 pages", (name) => {
    const slot = ring[name].slot_bytes as number;
    const pages: Record<string, number> = { "1_page_4096": 1, "2_pages_8192": 2, "4_pages_16384": 4, "8_pages_32768": 8 };
    for (const [key, entries] of Object.entries(ring[name].ring_entries_by_pages as Record<string, number>)) {
      const n = pages[key] as number;
      expect(constRingSize(n * 4096, slot), key).toBe(entries);
      // The same number from a ring built over n pages of memory.
      const mem = ringMemoryOver(new ArrayBuffer(n * 4096));
      const sring = new SharedRing(mem, Array.from({ length: n }, (_, i) => i * 4096), defineRingLayout(name, slot, slot));
      expect(sring.size).toBe(entries);
      expect(new FrontRing(sring).size).toBe(entries);
      expect(new BackRing(sring).size).toBe(entries);
    }
    // The raw count before rounding down to a power of two.
    expect(Math.floor((4096 - SRING_HEADER.SIZEOF) / slot)).toBe(ring[name].raw_slots_before_power_of_two_rounding["1_page_4096"]);
  });

  it("private front/back ring structs hold exactly the indices we keep", () => {
    const front = ring.private_ring_structs_x86_64_not_shared.netif_tx_front_ring.fields.map((f: { name: string }) => f.name);
    const back = ring.private_ring_structs_x86_64_not_shared.netif_tx_back_ring.fields.map((f: { name: string }) => f.name);
    expect(front).toEqual(["req_prod_pvt", "rsp_cons", "nr_ents", "sring"]);
    expect(back).toEqual(["rsp_prod_pvt", "req_cons", "nr_ents", "sring"]);
    const sring = new SharedRing(ringMemoryOver(new ArrayBuffer(4096)), [0], defineRingLayout("t", 12, 4));
    const f = new FrontRing(sring);
    const b = new BackRing(sring);
    expect([f.reqProdPvt, f.rspCons, f.size]).toEqual([0, 0, 256]);
    expect([b.rspProdPvt, b.reqCons, b.size]).toEqual([0, 0, 256]);
  });
});
