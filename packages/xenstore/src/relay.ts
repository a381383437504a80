/**
 * xenstored split across two threads, for a store that lives in a thread busy running a model:
 * the unix socket is served by a relay on a thread whose event loop is free
 * (`createXenstoredRelay`), which forwards each client's bytes over a `MessagePort`; the thread
 * that owns the store answers them with `XenstoredPortServer.poll()` whenever it can (between two
 * slices of a run) and, when its own event loop is free, as soon as they arrive. Replies and watch
 * events go back the same way. Each socket client is still one dom0 `Connection` of the store, as
 * with `createXenstoredServer` (oxenstored's connections.ml), and watches fire for it.
 */
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { createServer, type Server, type Socket } from "node:net";
import {
  claimSocketPath,
  DEFAULT_MAX_OUTPUT_BYTES,
  listenOn,
  serverHandle,
  type XenstoredServer,
  type XenstoredServerOptions,
  XenstoredSession,
} from "./server.js";
import type { XenStore } from "./store.js";

/** Relay -> store: a client connected, sent bytes, or went away. */
export type RelayRequest =
  | { readonly c: number; readonly t: "open" }
  | { readonly c: number; readonly t: "data"; readonly b: Uint8Array }
  | { readonly c: number; readonly t: "close" };

/** Store -> relay: bytes for a client, or close it (after its output, or at once). */
export type RelayReply = { readonly c: number; readonly t: "data"; readonly b: Uint8Array } | { readonly c: number; readonly t: "end" } | { readonly c: number; readonly t: "destroy" };

/**
 * Listen on `options.socketPath` and relay every client to the store served at the other end of
 * `port` (a `XenstoredPortServer`). Output a client leaves unread past `maxOutputBytes` costs it
 * its connection, as with `createXenstoredServer`.
 */
export async function createXenstoredRelay(port: MessagePort, options: XenstoredServerOptions): Promise<XenstoredServer> {
  const { socketPath, log } = options;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  await claimSocketPath(socketPath);
  const clients = new Set<Socket>();
  const byId = new Map<number, Socket>();
  let nextId = 1;
  const post = (m: RelayRequest): void => port.postMessage(m);

  port.on("message", (m: RelayReply) => {
    const socket = byId.get(m.c);
    if (socket === undefined || socket.destroyed) return;
    if (m.t === "data") {
      if (!socket.writable) return;
      socket.write(m.b);
      if (socket.writableLength > maxOutputBytes) {
        log?.(`client ${m.c} disconnected: ${socket.writableLength} bytes unread`);
        socket.destroy();
      }
    } else if (m.t === "end") socket.end();
    else socket.destroy();
  });

  const server: Server = createServer((socket) => {
    const c = nextId++;
    clients.add(socket);
    byId.set(c, socket);
    post({ c, t: "open" });
    socket.on("data", (chunk: Buffer) => post({ c, t: "data", b: new Uint8Array(chunk) }));
    socket.on("error", (err) => log?.(`client ${c} socket error: ${err.message}`));
    socket.on("close", () => {
      clients.delete(socket);
      byId.delete(c);
      post({ c, t: "close" });
    });
  });
  await listenOn(server, socketPath);
  return serverHandle(server, socketPath, clients, () => port.close());
}

/** How a xenstored port server relays requests: log, the domain clients act as, and when it answers. */
export interface XenstoredPortServerOptions {
  /** Access log: one line per connection event and request. */
  readonly log?: (line: string) => void;
  /** Domain the relayed clients act as (default 0, privileged). */
  readonly domid?: number;
  /**
   * Also answer as soon as requests arrive when this thread's event loop is free (default true).
   * `poll()` answers them in any case.
   */
  readonly listen?: boolean;
}

/** The store's end of a relay: one `XenstoredSession` per relayed client. */
export class XenstoredPortServer {
  private readonly sessions = new Map<number, XenstoredSession>();
  /** Sessions with watch events to send (fired by writes of the model or of another client). */
  private readonly pending = new Set<XenstoredSession>();
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly store: XenStore,
    private readonly port: MessagePort,
    private readonly options: XenstoredPortServerOptions = {},
  ) {
    if (options.listen ?? true) port.on("message", (m: RelayRequest) => this.handle(m));
  }

  /** Relayed clients connected now. */
  get clientCount(): number {
    return this.sessions.size;
  }

  /** Answer every request queued on the port and send pending watch events; returns requests handled. */
  poll(): number {
    if (this.closed) return 0;
    let n = 0;
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
      this.handle(m.message as RelayRequest);
      n++;
    }
    this.flush();
    return n;
  }

  /** Disconnect every relayed client and stop serving. */
  close(): void {
    if (this.closed) return;
    for (const [c, s] of this.sessions) {
      s.close();
      this.reply({ c, t: "destroy" });
    }
    this.sessions.clear();
    this.pending.clear();
    this.closed = true;
    this.port.close();
  }

  private reply(m: RelayReply): void {
    this.port.postMessage(m);
  }

  private handle(m: RelayRequest): void {
    if (this.closed) return;
    const { log } = this.options;
    if (m.t === "open") {
      const c = m.c;
      let live = true;
      const session = new XenstoredSession(this.store, {
        send: (b) => {
          if (!live) return false;
          this.reply({ c, t: "data", b });
          return true;
        },
        end: () => {
          live = false;
          this.reply({ c, t: "end" });
        },
        destroy: () => {
          live = false;
          this.reply({ c, t: "destroy" });
        },
        onWatchPending: () => this.watchPending(session),
        ...(log === undefined ? {} : { log }),
        ...(this.options.domid === undefined ? {} : { domid: this.options.domid }),
      });
      this.sessions.set(c, session);
      return;
    }
    const session = this.sessions.get(m.c);
    if (session === undefined) return;
    if (m.t === "data") session.input(m.b);
    else {
      session.close();
      this.sessions.delete(m.c);
      this.pending.delete(session);
    }
  }

  private watchPending(session: XenstoredSession): void {
    this.pending.add(session);
    // Sent at the next poll(), or by this thread's event loop if it gets to run first.
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return;
    // drainEvents sends a bounded batch and calls watchPending again when more are left.
    const sessions = [...this.pending];
    this.pending.clear();
    for (const s of sessions) s.drainEvents();
  }
}
