/** A raw xs_wire client for tests: sends frames, collects reply frames, notices the close. */
import { createConnection, type Socket } from "node:net";
import { encodeMessage, XsFrameDecoder, type XsMessage } from "../src/index.js";

export class RawClient {
  readonly frames: XsMessage[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: Socket) {
    const d = new XsFrameDecoder();
    socket.on("data", (c) =>
      d.push(
        c,
        (m) => {
          this.frames.push(m);
          this.wake();
        },
        () => {},
      ),
    );
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(type: number, payload: Uint8Array | string, reqId = 1, txId = 0): void {
    const p = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
    this.sendRaw(encodeMessage({ type, reqId, txId, payload: p }));
  }

  /** Wait (bounded) until `n` frames have arrived or the socket closed; take them. */
  async take(n: number, timeoutMs = 2000): Promise<XsMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.splice(0, n);
  }

  /** Send one request and return its reply (and any event frames that came first, dropped). */
  async request(type: number, payload: Uint8Array | string, reqId = 1, txId = 0): Promise<XsMessage> {
    this.send(type, payload, reqId, txId);
    for (let i = 0; i < 64; i++) {
      const [f] = await this.take(1);
      if (f === undefined) throw new Error(this.closed ? "connection closed" : "no reply");
      if (f.type !== 15) return f;
    }
    throw new Error("only watch events");
  }

  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await this.take(Number.POSITIVE_INFINITY, Math.min(100, deadline - Date.now()));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

export const text = (m: XsMessage | undefined): string => (m === undefined ? "<none>" : Buffer.from(m.payload).toString("latin1"));
