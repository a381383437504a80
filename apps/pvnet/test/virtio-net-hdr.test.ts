import { Hypervisor } from "@pvnet/hypervisor";
import { CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, PagePool, SKB_GSO_TCP_ECN, SKB_GSO_TCPV4, SkbAllocator } from "@pvnet/skb-model";
import { expect, test } from "vitest";
import { VIRTIO_NET_HDR, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_UDP, vnetHdrFromSkb, vnetHdrToSkb } from "../src/tap/virtio-net-hdr.js";

function skbOf(len: number) {
  const hv = new Hypervisor({ frames: 512, seed: 1 });
  const dom = hv.createDomain({ name: "guest", maxPages: 256 });
  const skbs = new SkbAllocator({ pool: new PagePool(dom, { limitFrames: 128 }), maxSkbs: 8 });
  const skb = skbs.allocSkb(len)!;
  skb.putData(new Uint8Array(len));
  return skb;
}

function hdr(flags: number, gsoType: number, gsoSize: number, csumStart: number, csumOffset: number): Uint8Array {
  const h = new Uint8Array(VIRTIO_NET_HDR.SIZEOF);
  const v = new DataView(h.buffer);
  h[0] = flags;
  h[1] = gsoType;
  v.setUint16(2, 54, true);
  v.setUint16(4, gsoSize, true);
  v.setUint16(6, csumStart, true);
  v.setUint16(8, csumOffset, true);
  return h;
}

test("a TSO4 header with NEEDS_CSUM becomes a CHECKSUM_PARTIAL GSO skb, and comes back the same", () => {
  const skb = skbOf(9000);
  const h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 34, 16);
  expect(vnetHdrToSkb(h, 0, skb)).toBe(true);
  expect([skb.ipSummed, skb.csumStart - skb.data, skb.csumOffset]).toEqual([CHECKSUM_PARTIAL, 34, 16]);
  expect([skb.shinfo.gsoSize, skb.shinfo.gsoType]).toEqual([1448, SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN]);
  const back = new Uint8Array(VIRTIO_NET_HDR.SIZEOF);
  vnetHdrFromSkb(skb, back, 0);
  expect([back[0], back[1], back[4]! | (back[5]! << 8), back[6]! | (back[7]! << 8), back[8]]).toEqual([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 34, 16]);
});

test("DATA_VALID marks the skb CHECKSUM_UNNECESSARY; headers Linux rejects are refused", () => {
  const ok = skbOf(100);
  expect(vnetHdrToSkb(hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0), 0, ok)).toBe(true);
  expect(ok.ipSummed).toBe(CHECKSUM_UNNECESSARY);
  // A checksum past the linear data, UDP fragmentation offload, a GSO packet without gso_size.
  expect(vnetHdrToSkb(hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 90, 16), 0, skbOf(100))).toBe(false);
  expect(vnetHdrToSkb(hdr(0, VIRTIO_NET_HDR_GSO_UDP, 1400, 0, 0), 0, skbOf(100))).toBe(false);
  expect(vnetHdrToSkb(hdr(0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 0, 0), 0, skbOf(100))).toBe(false);
});
