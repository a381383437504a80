import { Hypervisor } from "@pvnet/hypervisor";
import { abiFacts } from "@pvnet/testkit";
import { describe, expect, test } from "vitest";
import {
  GNTCOPY,
  GNTMAP,
  GNTST,
  GNTTAB_COPY,
  GNTTAB_COPY_PTR,
  GNTTAB_MAP_GRANT_REF,
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GNTTAB_UNMAP_GRANT_REF,
  GNTTABOP,
  GNTTABOP_ERROR_MSGS,
  type GnttabCopyOp,
  type GnttabMapOp,
  GnttabGuest,
  GRANT_ENTRY_V1,
  GREFS_PER_GRANT_FRAME,
  GrantTables,
  GTF,
  gnttabStatusMessage,
  readGnttabCopy,
  readGnttabMapGrantRef,
  readGrantEntryV1,
  writeGnttabCopy,
  writeGnttabMapGrantRef,
} from "../src/index.js";

const gt = abiFacts().grant_table_h;

type Field = { name: string; offset: number; size: number };
function offsets(struct: { fields: Field[] }): Record<string, number> {
  return Object.fromEntries(struct.fields.map((f) => [f.name, f.offset]));
}
function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

describe("grant_table.h layouts match abi-facts.json", () => {
  test("grant_entry_v1", () => {
    const f = offsets(gt.grant_entry_v1);
    expect(GRANT_ENTRY_V1).toEqual({ SIZEOF: gt.grant_entry_v1.sizeof, FLAGS: f.flags, DOMID: f.domid, FRAME: f.frame });
    expect(GREFS_PER_GRANT_FRAME).toBe(gt.v1_entries_per_4096_page);
  });

  test("gnttab_map_grant_ref", () => {
    const f = offsets(gt.gnttab_map_grant_ref);
    expect(GNTTAB_MAP_GRANT_REF).toEqual({
      SIZEOF: gt.gnttab_map_grant_ref.sizeof,
      HOST_ADDR: f.host_addr,
      FLAGS: f.flags,
      REF: f.ref,
      DOM: f.dom,
      STATUS: f.status,
      HANDLE: f.handle,
      DEV_BUS_ADDR: f.dev_bus_addr,
    });
  });

  test("gnttab_unmap_grant_ref", () => {
    const f = offsets(gt.gnttab_unmap_grant_ref);
    expect(GNTTAB_UNMAP_GRANT_REF).toEqual({
      SIZEOF: gt.gnttab_unmap_grant_ref.sizeof,
      HOST_ADDR: f.host_addr,
      DEV_BUS_ADDR: f.dev_bus_addr,
      HANDLE: f.handle,
      STATUS: f.status,
    });
  });

  test("gnttab_copy and gnttab_copy_ptr", () => {
    const p = offsets(gt.gnttab_copy_ptr);
    expect(GNTTAB_COPY_PTR).toEqual({ SIZEOF: gt.gnttab_copy_ptr.sizeof, REF: p["u.ref"], GMFN: p["u.gmfn"], DOMID: p.domid, OFFSET: p.offset });
    const c = offsets(gt.gnttab_copy);
    expect(GNTTAB_COPY).toEqual({ SIZEOF: gt.gnttab_copy.sizeof, SOURCE: c.source, DEST: c.dest, LEN: c.len, FLAGS: c.flags, STATUS: c.status });
  });

  test("GNTTABOP, GTF, GNTMAP, GNTCOPY and reserved entries", () => {
    for (const [name, value] of Object.entries(gt.GNTTABOP)) expect(GNTTABOP[name.replace("GNTTABOP_", "") as keyof typeof GNTTABOP]).toBe(value);
    for (const [name, value] of Object.entries(gt.GTF)) {
      if (name === "note" || name.startsWith("_") || name.includes("transfer_")) continue;
      expect(GTF[name.replace("GTF_", "") as keyof typeof GTF], name).toBe(value);
    }
    for (const [name, value] of Object.entries(gt.GNTMAP)) {
      if (name.startsWith("_") || name === "GNTMAP_guest_avail_mask") continue;
      expect(GNTMAP[name.replace("GNTMAP_", "") as keyof typeof GNTMAP], name).toBe(value);
    }
    expect(GNTCOPY).toEqual({ source_gref: gt.GNTCOPY.GNTCOPY_source_gref, dest_gref: gt.GNTCOPY.GNTCOPY_dest_gref });
    expect(GNTTAB_NR_RESERVED_ENTRIES).toBe(gt.reserved_entries.GNTTAB_NR_RESERVED_ENTRIES);
    expect(GNTTAB_RESERVED_CONSOLE).toBe(gt.reserved_entries.GNTTAB_RESERVED_CONSOLE);
    expect(GNTTAB_RESERVED_XENSTORE).toBe(gt.reserved_entries.GNTTAB_RESERVED_XENSTORE);
  });

  test("GNTST codes and messages", () => {
    expect(GNTTABOP_ERROR_MSGS.length).toBe(gt.GNTTABOP_error_msgs_count);
    for (const { name, value, message } of gt.GNTST as { name: string; value: number; message: string }[]) {
      expect(GNTST[name.replace("GNTST_", "") as keyof typeof GNTST], name).toBe(value);
      expect(gnttabStatusMessage(value)).toBe(message);
    }
    expect(Object.keys(GNTST).length).toBe(gt.GNTST.length);
    expect(gnttabStatusMessage(-99)).toBe("unknown status -99");
  });
});

describe("example encodings of abi-facts.json", () => {
  test("a grant entry written by the guest side has the bytes of the header", () => {
    const ex = gt.example_encodings_little_endian[0];
    expect(ex.what).toContain("grant_entry_v1");
    const hv = new Hypervisor({ frames: 64 });
    hv.createDomain({ name: "dom0", maxPages: 8 });
    const domU = hv.createDomain({ name: "domU", maxPages: 8 });
    const guest = new GnttabGuest(new GrantTables(hv), domU.vcpus[0]!);
    guest.grantForeignAccessRef(9, 1, 0x12345, true);
    const at = guest.entryOffset(9);
    expect(hex(hv.machine.bytes.subarray(at, at + GRANT_ENTRY_V1.SIZEOF))).toBe(ex.hex);
    expect(readGrantEntryV1(hv.machine.view, at, { flags: 0, domid: 0, frame: 0 })).toEqual({ flags: GTF.permit_access | GTF.readonly, domid: 1, frame: 0x12345 });
  });

  test("gnttab_copy encodes and decodes as the header lays it out", () => {
    const ex = gt.example_encodings_little_endian[1];
    const buf = new DataView(new ArrayBuffer(GNTTAB_COPY.SIZEOF));
    const op: GnttabCopyOp = {
      sourceRef: 0x10,
      sourceDomid: 5,
      sourceOffset: 0x80,
      destRef: 0xabcde,
      destDomid: 0x7ff0,
      destOffset: 0,
      len: 1514,
      flags: GNTCOPY.source_gref,
      status: 0,
    };
    writeGnttabCopy(buf, 0, op);
    expect(hex(new Uint8Array(buf.buffer))).toBe(ex.hex);
    expect(readGnttabCopy(buf, 0, { ...op, len: 0, destRef: 0 })).toEqual(op);
  });

  test("gnttab_map_grant_ref round-trips, 64-bit fields included", () => {
    const buf = new DataView(new ArrayBuffer(GNTTAB_MAP_GRANT_REF.SIZEOF));
    const op: GnttabMapOp = { hostAddr: 0x7f12_3456_7000, flags: GNTMAP.host_map | GNTMAP.readonly, ref: 77, dom: 3, status: GNTST.bad_page, handle: 0xfffffffe, devBusAddr: 0x1234_5000 };
    writeGnttabMapGrantRef(buf, 0, op);
    expect(buf.getUint32(GNTTAB_MAP_GRANT_REF.HOST_ADDR + 4, true)).toBe(0x7f12);
    expect(buf.getInt16(GNTTAB_MAP_GRANT_REF.STATUS, true)).toBe(-9);
    expect(readGnttabMapGrantRef(buf, 0, { hostAddr: 0, flags: 0, ref: 0, dom: 0, status: 0, handle: 0, devBusAddr: 0 })).toEqual(op);
  });
});
