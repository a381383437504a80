/**
 * A TAP device from Node, through koffi (a C FFI) and libc: open("/dev/net/tun"), ioctl TUNSETIFF
 * with IFF_TAP | IFF_NO_PI (Documentation/networking/tuntap.rst), non-blocking read and write of
 * whole Ethernet frames. The device lives as long as its file descriptor is open.
 */
import { writevSync } from "node:fs";
import koffi from "koffi";

/** <linux/if_tun.h>: TUNSETIFF = _IOW('T', 202, int). */
export const TUNSETIFF = 0x400454ca;
/** <linux/if_tun.h>: a TAP (Ethernet) device, not TUN (IP). */
export const IFF_TAP = 0x0002;
/** <linux/if_tun.h>: no 4-byte packet-information header before each frame. */
export const IFF_NO_PI = 0x1000;
/** <linux/if_tun.h>: each frame comes after a struct virtio_net_hdr (GSO and checksum state). */
export const IFF_VNET_HDR = 0x4000;
/** <linux/if_tun.h>: TUNSETOFFLOAD = _IOW('T', 208, unsigned int): the offloads the reader takes. */
export const TUNSETOFFLOAD = 0x400454d0;
/** <linux/if_tun.h>: partial checksums, and TCP/IPv4 segmentation (TSO4 needs CSUM). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
/** <fcntl.h> on Linux. */
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
/** <errno.h>. */
const EAGAIN = 11;
const EINTR = 4;
/** struct ifreq: ifr_name[IFNAMSIZ = 16], then the union whose ifr_flags (short) we set; 40 bytes. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

/** A TAP failure: `code` is the errno name where one is known. */
export class TapError extends Error {
  override readonly name = "TapError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface Libc {
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, req: number, type: string, arg: Buffer | number) => number;
  read: (fd: number, buf: Uint8Array, n: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  const lib = koffi.load("libc.so.6");
  libc = {
    open: lib.func("int open(const char *path, int flags)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long req, ...)"),
    read: lib.func("long read(int fd, _Out_ uint8_t *buf, unsigned long n)"),
    close: lib.func("int close(int fd)"),
  } as Libc;
  return libc;
}

function errnoName(e: number): string {
  return ({ 1: "EPERM", 2: "ENOENT", 13: "EACCES", 16: "EBUSY", 19: "ENODEV", 22: "EINVAL" } as Record<number, string>)[e] ?? `errno ${e}`;
}

export class TapDevice {
  /** Frames written that the kernel refused (its queue full, or the device down). */
  writeErrors = 0;
  private fd: number;

  private constructor(
    readonly name: string,
    /** Whether each frame read or written is preceded by a struct virtio_net_hdr. */
    readonly vnetHdr: boolean,
    fd: number,
    private readonly c: Libc,
  ) {
    this.fd = fd;
  }

  /**
   * Create a TAP device named after `template` ("pvtap%d": the kernel picks the number). With
   * `offloads`, IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4): the kernel hands over
   * partially checksummed TCP/IPv4 segments of up to 64 KiB, each after its virtio_net_hdr.
   */
  static open(template: string, offloads = false): TapDevice {
    const c = loadLibc();
    const fd = c.open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const e = koffi.errno();
      throw new TapError(`cannot open /dev/net/tun: ${errnoName(e)}`, errnoName(e));
    }
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(template.slice(0, IFNAMSIZ - 1), "latin1");
    ifr.writeUInt16LE(IFF_TAP | IFF_NO_PI | (offloads ? IFF_VNET_HDR : 0), IFNAMSIZ);
    const fail = (what: string): never => {
      const e = koffi.errno();
      c.close(fd);
      throw new TapError(`${what} ${template}: ${errnoName(e)}`, errnoName(e));
    };
    if (c.ioctl(fd, TUNSETIFF, "uint8_t *", ifr) < 0) fail("TUNSETIFF");
    if (offloads && c.ioctl(fd, TUNSETOFFLOAD, "unsigned long", TUN_F_CSUM | TUN_F_TSO4) < 0) fail("TUNSETOFFLOAD");
    const end = ifr.indexOf(0);
    return new TapDevice(ifr.toString("latin1", 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end), offloads, fd, c);
  }

  /** Read one frame into `buf`: its length, or 0 when none is waiting. */
  read(buf: Uint8Array): number {
    for (;;) {
      const n = this.c.read(this.fd, buf, buf.length);
      if (n >= 0) return n;
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return 0;
      throw new TapError(`read ${this.name}: ${errnoName(e)}`, errnoName(e));
    }
  }

  /**
   * Write one frame gathered from `parts` (one writev: the kernel copies straight out of them); a
   * refused frame is counted in `writeErrors`, as a lost packet.
   */
  writev(parts: readonly Uint8Array[]): void {
    let len = 0;
    for (const p of parts) len += p.length;
    try {
      if (writevSync(this.fd, parts as Uint8Array[]) !== len) this.writeErrors++;
    } catch {
      this.writeErrors++; // EAGAIN (the device's queue is full), EIO (the link is down)
    }
  }

  /** Close the descriptor: the (non-persistent) device goes away with it. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    this.c.close(this.fd);
    this.fd = -1;
  }
}
