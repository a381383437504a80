import * as netif from "@pvnet/netif";
import { constRingSize } from "@pvnet/shared-ring";
import { abiFacts } from "@pvnet/testkit";
import { describe, expect, it } from "vitest";

const facts = abiFacts().netif_h;
type Field = { name: string; offset: number; size: number };
const fieldsOf = (struct: string) => new Map<string, Field>(facts[struct].fields.map((f: Field) => [f.name, f]));
const hex = (v: DataView, n: number) => Buffer.from(v.buffer, v.byteOffset, n).toString("hex");

describe("struct layouts against abi-facts.json", () => {
  /** [abi-facts struct, our layout object, C field name -> our key] */
  const cases: Array<[string, Record<string, number>, Record<string, string>]> = [
    ["netif_tx_request", netif.TX_REQUEST, { gref: "GREF", offset: "OFFSET", flags: "FLAGS", id: "ID", size: "SIZE" }],
    ["netif_tx_response", netif.TX_RESPONSE, { id: "ID", status: "STATUS" }],
    ["netif_rx_request", netif.RX_REQUEST, { id: "ID", pad: "PAD", gref: "GREF" }],
    ["netif_rx_response", netif.RX_RESPONSE, { id: "ID", offset: "OFFSET", flags: "FLAGS", status: "STATUS" }],
    [
      "netif_extra_info",
      netif.EXTRA_INFO,
      {
        type: "TYPE",
        flags: "FLAGS",
        u: "U",
        "u.gso.size": "GSO_SIZE",
        "u.gso.type": "GSO_TYPE",
        "u.gso.pad": "GSO_PAD",
        "u.gso.features": "GSO_FEATURES",
        "u.mcast.addr": "MCAST_ADDR",
        "u.hash.type": "HASH_TYPE",
        "u.hash.algorithm": "HASH_ALGORITHM",
        "u.hash.value": "HASH_VALUE",
      },
    ],
    ["xen_netif_ctrl_request", netif.CTRL_REQUEST, { id: "ID", type: "TYPE", data: "DATA" }],
    ["xen_netif_ctrl_response", netif.CTRL_RESPONSE, { id: "ID", type: "TYPE", status: "STATUS", data: "DATA" }],
    ["xen_netif_gref", netif.CTRL_GREF, { ref: "REF", flags: "FLAGS", status: "STATUS" }],
  ];
  it.each(cases)("%s", (struct, layout, names) => {
    expect(layout.SIZEOF).toBe(facts[struct].sizeof);
    const fields = fieldsOf(struct);
    for (const [c, ours] of Object.entries(names)) expect(layout[ours], `${struct}.${c}`).toBe(fields.get(c)?.offset);
    // Every scalar field of the C struct is mapped (union containers excepted).
    for (const f of fields.keys()) if (!["u.gso", "u.mcast", "u.hash", "u.pad"].includes(f)) expect(Object.keys(names)).toContain(f);
    expect(Object.isFrozen(layout)).toBe(true);
  });

  it("ring slot sizes and entries per page", () => {
    const s = facts.slot_sizes;
    expect([netif.NETIF_TX_RING.slotBytes, netif.NETIF_RX_RING.slotBytes, netif.NETIF_CTRL_RING.slotBytes]).toEqual([s.tx_slot_bytes, s.rx_slot_bytes, s.ctrl_slot_bytes]);
    expect(constRingSize(4096, netif.NETIF_TX_RING.slotBytes)).toBe(s.tx_ring_entries_1_page);
    expect(constRingSize(4096, netif.NETIF_RX_RING.slotBytes)).toBe(s.rx_ring_entries_1_page);
    expect(constRingSize(4096, netif.NETIF_CTRL_RING.slotBytes)).toBe(s.ctrl_ring_entries_1_page);
  });
});

describe("constants against abi-facts.json", () => {
  it("every netif.h constant is exported under its C name with its value", () => {
    const exported = netif as unknown as Record<string, unknown>;
    for (const [name, value] of Object.entries(facts.constants as Record<string, number>)) expect(exported[name], name).toBe(value);
  });

  it("names absent from the 4.17 header are absent or marked as newer", () => {
    const exported = netif as unknown as Record<string, unknown>;
    expect(facts.names_defined_in_this_header_version.XEN_NETIF_EXTRA_TYPE_XDP).toBe(false);
    // XDP is from newer headers: it takes the old MAX's value and comes with its own MAX.
    expect(netif.XEN_NETIF_EXTRA_TYPE_XDP).toBe(facts.constants.XEN_NETIF_EXTRA_TYPE_MAX);
    expect(netif.XEN_NETIF_EXTRA_TYPE_MAX_WITH_XDP).toBe(netif.XEN_NETIF_EXTRA_TYPE_XDP + 1);
    expect(exported.XEN_NETIF_RSP_OKAY).toBeUndefined();
    expect(exported.XEN_NETIF_GSO_FEAT_TCPV4_ECN).toBeUndefined();
  });

  it("xenbus states", () => {
    for (const [name, value] of Object.entries(facts.xenbus_states as Record<string, number>)) {
      expect(netif.XenbusState[name.replace("XenbusState", "") as keyof typeof netif.XenbusState], name).toBe(value);
    }
  });
});

describe("example encodings from abi-facts.json", () => {
  const ex = facts.example_encodings_little_endian as Array<{ what: string; hex?: string; hex_slot?: string }>;
  const find = (prefix: string) => ex.find((e) => e.what.startsWith(prefix)) as { hex?: string; hex_slot?: string };
  const slot = () => new DataView(new ArrayBuffer(12));

  it("tx request, and decoding it back", () => {
    const v = slot();
    const flags = netif.NETTXF_csum_blank | netif.NETTXF_more_data | netif.NETTXF_extra_info;
    netif.writeTxRequest(v, 0, { gref: 0x123, offset: 0x42, flags, id: 7, size: 1514 });
    expect(hex(v, 12)).toBe(find("netif_tx_request{").hex);
    expect(netif.readTxRequest(v, 0, netif.newTxRequest())).toEqual({ gref: 0x123, offset: 0x42, flags, id: 7, size: 1514 });
  });

  it("extra info: GSO in a tx slot, MCAST_ADD, HASH", () => {
    const gso = { ...netif.newExtraInfo(), type: netif.XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 1448, gsoType: netif.XEN_NETIF_GSO_TYPE_TCPV4 };
    let v = slot();
    netif.writeExtraInfo(v, 0, gso);
    expect(hex(v, 12)).toBe(find("netif_extra_info GSO").hex_slot);
    const mcast = { ...netif.newExtraInfo(), type: netif.XEN_NETIF_EXTRA_TYPE_MCAST_ADD, flags: netif.XEN_NETIF_EXTRA_FLAG_MORE, mcastAddr: Uint8Array.from([1, 0, 0x5e, 0, 0, 0xfb]) };
    v = slot();
    netif.writeExtraInfo(v, 0, mcast);
    expect(hex(v, 8)).toBe(find("netif_extra_info MCAST_ADD").hex);
    const out = netif.readExtraInfo(v, 0, netif.newExtraInfo());
    expect([out.type, out.flags, [...out.mcastAddr]]).toEqual([2, 1, [1, 0, 0x5e, 0, 0, 0xfb]]);
    const hash = {
      ...netif.newExtraInfo(),
      type: netif.XEN_NETIF_EXTRA_TYPE_HASH,
      hashType: netif._XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
      hashAlgorithm: netif.XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
      hashValue: 0x11223344,
    };
    v = slot();
    netif.writeExtraInfo(v, 0, hash);
    expect(hex(v, 8)).toBe(find("netif_extra_info HASH").hex);
    expect(netif.readExtraInfo(v, 0, netif.newExtraInfo())).toMatchObject({ type: 4, hashType: 1, hashAlgorithm: 1, hashValue: 0x11223344 });
  });

  it("tx responses (OKAY, and NULL for an extra slot) in a 12-byte slot", () => {
    let v = slot();
    netif.writeTxResponse(v, 0, { id: 7, status: netif.NETIF_RSP_OKAY });
    expect(hex(v, 12)).toBe(find("netif_tx_response{id=7").hex_slot);
    v = slot();
    netif.writeTxResponse(v, 0, { id: 0, status: netif.NETIF_RSP_NULL });
    expect(hex(v, 12)).toBe(find("tx response slot answering an extra-info").hex_slot);
    netif.writeTxResponse(v, 0, { id: 9, status: netif.NETIF_RSP_DROPPED });
    expect(netif.readTxResponse(v, 0, netif.newTxResponse())).toEqual({ id: 9, status: -2 });
  });

  it("rx request and responses", () => {
    const v = slot();
    netif.writeRxRequest(v, 0, { id: 3, gref: 0x456 });
    expect(hex(v, 8)).toBe(find("netif_rx_request{").hex);
    expect(netif.readRxRequest(v, 0, netif.newRxRequest())).toEqual({ id: 3, gref: 0x456 });
    netif.writeRxResponse(v, 0, { id: 3, offset: 0, flags: netif.NETRXF_data_validated | netif.NETRXF_more_data, status: 1500 });
    expect(hex(v, 8)).toBe(find("netif_rx_response{id=3, offset=0").hex);
    netif.writeRxResponse(v, 0, { id: 3, offset: 0, flags: 0, status: netif.NETIF_RSP_ERROR });
    expect(hex(v, 8)).toBe(find("netif_rx_response{id=3, status=NETIF_RSP_ERROR").hex);
    expect(netif.readRxResponse(v, 0, netif.newRxResponse()).status).toBe(-1);
  });

  it("ctrl structs round-trip at their offsets", () => {
    const v = new DataView(new ArrayBuffer(16));
    netif.writeCtrlRequest(v, 0, { id: 0x0102, type: netif.XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, data0: 0xa0a1a2a3, data1: 5, data2: 0xffffffff });
    expect(hex(v, 16)).toBe("02010300a3a2a1a005000000ffffffff");
    expect(netif.readCtrlRequest(v, 0, netif.newCtrlRequest())).toEqual({ id: 0x0102, type: 3, data0: 0xa0a1a2a3, data1: 5, data2: 0xffffffff });
    netif.writeCtrlResponse(v, 0, { id: 4, type: 1, status: netif.XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, data: 64 });
    expect(hex(v, 12)).toBe("040001000300000040000000");
    netif.writeCtrlGref(v, 0, { ref: 0x10, flags: netif.XEN_NETIF_CTRLF_GREF_readonly, status: netif.XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER });
    expect(hex(v, 8)).toBe("1000000001000200");
    expect(netif.readCtrlGref(v, 0, netif.newCtrlGref())).toEqual({ ref: 0x10, flags: 1, status: 2 });
  });
});

describe("xenstore keys and paths", () => {
  const ours = new Set<string>(Object.values(netif.NETIF_XS_KEY));
  it("every key netif.h documents, and those Linux checks for, is a typed constant", () => {
    for (const { key } of facts.xenstore_keys_documented_in_netif_h as Array<{ key: string }>) {
      if (key === "queue-N") continue; // a directory, built by netifQueueDir
      expect(ours, key).toContain(key);
    }
    for (const key of facts.xenstore_keys_NOT_mentioned_in_this_netif_h_but_checked_for as string[]) expect(ours, key).toContain(key);
    for (const key of ["feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6", "feature-rx-copy", "request-rx-copy", "feature-rx-notify", "feature-split-event-channels", "multi-queue-max-queues", "multi-queue-num-queues", "feature-persistent", "ctrl-ring-ref", "feature-ctrl-ring", "feature-multicast-control"]) {
      expect(ours, key).toContain(key);
    }
  });

  it("frontend, backend and per-queue directories follow the header's examples", () => {
    const ex = facts.xenstore_path_examples_in_header;
    expect(netif.netifFrontendDir(5, 0)).toBe(ex.frontend_dir.replace("<domid>", "5").replace("<vif>", "0"));
    expect(netif.netifBackendDir(0, 5, 1)).toBe(ex.backend_dir.replace("<backend-domid>", "0").replace("<domid>", "5").replace("<vif>", "1"));
    const fe = netif.netifFrontendDir(5, 0);
    expect(netif.netifQueueDir(fe, 0, 1)).toBe(fe);
    expect(netif.netifPath(netif.netifQueueDir(fe, 2, 4), netif.NETIF_XS_KEY.TX_RING_REF)).toBe("/local/domain/5/device/vif/0/queue-2/tx-ring-ref");
    expect(() => netif.netifQueueDir(fe, 4, 4)).toThrow(RangeError);
    expect(() => netif.netifFrontendDir(-1, 0)).toThrow(RangeError);
    expect(() => netif.netifFrontendDir(0x7ff0, 0)).toThrow(RangeError);
    expect(() => netif.netifBackendDir(0, 1.5, 0)).toThrow(RangeError);
  });
});
