/**
 * A xenstored unix-socket server (oxenstored's xenstored.ml main loop + connections.ml; C
 * xenstored's handle_input/handle_output). Each socket client is one privileged dom0
 * `Connection`, as a socket client of oxenstored is. Malformed input costs only that client its
 * connection; the store and the other clients carry on.
 */
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { Connection } from "./connection.js";
import { errorReply, processRequest, watchEventMessage } from "./process.js";
import type { XenStore } from "./store.js";
import { encodeMessage, XsFrameDecoder } from "./wire.js";

/**
 * Bytes of replies and watch events a client may leave unread before it is disconnected: far
 * more than any request/reply exchange needs, small enough that a client ignoring its watch
 * events cannot grow our memory without bound.
 */
export const DEFAULT_MAX_OUTPUT_BYTES = 1 << 20;

/** Watch events sent per drain before yielding, so one busy watcher cannot starve the loop. */
const WATCH_EVENTS_PER_DRAIN = 256;

/** Where the socket xenstored listens and how it answers: path, log, output bound per client. */
export interface XenstoredServerOptions {
  /** Where to listen. A stale socket file left by a dead server is replaced. */
  readonly socketPath: string;
  /** Access log: one line per connection event and request. */
  readonly log?: (line: string) => void;
  /** See DEFAULT_MAX_OUTPUT_BYTES. */
  readonly maxOutputBytes?: number;
  /** Domain the socket clients act as (default 0, privileged). */
  readonly domid?: number;
}

/** A running socket xenstored: its path, clients connected, and how to stop it. */
export interface XenstoredServer {
  readonly socketPath: string;
  /** Socket clients currently connected. */
  readonly clientCount: number;
  /** Stop listening, disconnect every client and remove the socket file. */
  close(): Promise<void>;
}

function isLiveSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** Where a session's output goes: a socket, or a relay's message port. */
export interface XenstoredSessionIo {
  /** Queue bytes for the client; false when the client is gone (or was cut off for unread output). */
  send(bytes: Uint8Array): boolean;
  /** Close after what was sent (the client sent an oversized frame). */
  end(): void;
  /** Close at once. */
  destroy(): void;
  /** Watch events are pending on the connection and nothing is draining them: drain them soon. */
  onWatchPending(): void;
  /** Access log: one line per connection event and request. */
  readonly log?: (line: string) => void;
  /** Domain the client acts as (default 0, privileged). */
  readonly domid?: number;
}

/**
 * One client of xenstored: its connection, its frame decoder, replies and watch events in order
 * (oxenstored's Connection + its input/output buffers). Transport-free: a socket server and a
 * relayed server (`XenstoredPortServer`) feed it bytes and carry its output.
 */
export class XenstoredSession {
  private conn: Connection | undefined;
  private readonly decoder = new XsFrameDecoder();

  constructor(
    store: XenStore,
    private readonly io: XenstoredSessionIo,
  ) {
    this.conn = store.connect(io.domid ?? 0, { onWatchPending: () => io.onWatchPending() });
    io.log?.(`${this.conn.id} newconn`);
  }

  /**  undefined {|The connection id xenstored gave this session, once connected. */
  get id(): number | undefined {
    return this.conn?.id;
  }

  /** Watch events queued on this client's connection and not sent yet. */
  get pendingWatchEvents(): number {
    return this.conn?.pendingWatchEvents ?? 0;
  }

  /** Bytes from the client: every whole frame is processed and answered. */
  input(chunk: Uint8Array): void {
    const { io } = this;
    const c = this.conn;
    if (c === undefined || c.closed) {
      io.destroy();
      return;
    }
    let open = true;
    this.decoder.push(
      chunk,
      (msg) => {
        if (!open) return;
        const reply = processRequest(c, msg, { log: io.log });
        // Reply first, then the events it caused (the initial event of a WATCH follows its OK).
        if (!io.send(encodeMessage(reply))) open = false;
        else if (c.pendingWatchEvents > 0) this.drainEvents();
      },
      (hdr) => {
        // oxenstored answers and then ignores the connection forever; we answer and close it.
        io.log?.(`${c.id} payload of ${hdr.len} bytes: closing`);
        io.send(encodeMessage(errorReply(hdr, "E2BIG")));
        open = false;
        io.end();
      },
    );
  }

  /** Send up to WATCH_EVENTS_PER_DRAIN pending watch events; asks for another drain if more are left. */
  drainEvents(): void {
    const c = this.conn;
    if (c === undefined) return;
    for (const ev of c.takeWatchEvents(WATCH_EVENTS_PER_DRAIN)) {
      if (!this.io.send(encodeMessage(watchEventMessage(ev.path, ev.token)))) return;
    }
    if (c.pendingWatchEvents > 0) this.io.onWatchPending();
  }

  /** The client went away: its connection (watches, transactions) is released. */
  close(): void {
    if (this.conn === undefined) return;
    if (this.decoder.pendingBytes > 0) this.io.log?.(`${this.conn.id} closed mid-frame (${this.decoder.pendingBytes} bytes dropped)`);
    this.io.log?.(`${this.conn.id} endconn`);
    this.conn.close();
    this.conn = undefined;
  }
}

/** Listen on `socketPath` and serve `store` over xs_wire until `close()`. */
export async function createXenstoredServer(store: XenStore, options: XenstoredServerOptions): Promise<XenstoredServer> {
  const { socketPath, log } = options;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  await claimSocketPath(socketPath);
  const clients = new Set<Socket>();

  const server: Server = createServer((socket) => {
    clients.add(socket);
    const session = new XenstoredSession(store, {
      send: (bytes) => {
        if (socket.destroyed || !socket.writable) return false;
        socket.write(bytes);
        if (socket.writableLength > maxOutputBytes) {
          log?.(`${session.id} disconnected: ${socket.writableLength} bytes unread`);
          socket.destroy();
          return false;
        }
        return true;
      },
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      onWatchPending: () => {
        if (drainScheduled) return;
        drainScheduled = true;
        setImmediate(() => {
          drainScheduled = false;
          session.drainEvents();
        });
      },
      ...(log === undefined ? {} : { log }),
      ...(options.domid === undefined ? {} : { domid: options.domid }),
    });
    let drainScheduled = false;
    socket.on("data", (chunk: Buffer) => session.input(chunk));
    socket.on("error", (err) => log?.(`${session.id} socket error: ${err.message}`));
    socket.on("close", () => {
      clients.delete(socket);
      session.close();
    });
  });

  await listenOn(server, socketPath);
  return serverHandle(server, socketPath, clients);
}

/** Make `socketPath` free to listen on: a stale socket is removed, a live one or another file refused. */
export async function claimSocketPath(socketPath: string): Promise<void> {
  if (existsSync(socketPath)) {
    if (!lstatSync(socketPath).isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    if (await isLiveSocket(socketPath)) throw new Error(`${socketPath}: a server is already listening`);
    unlinkSync(socketPath);
  }
}

export function listenOn(server: Server, socketPath: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export function serverHandle(server: Server, socketPath: string, clients: Set<Socket>, onClose?: () => void): XenstoredServer {
  return {
    socketPath,
    get clientCount() {
      return clients.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of clients) s.destroy();
        onClose?.();
        server.close(() => {
          try {
            unlinkSync(socketPath);
          } catch {
            // Already gone (node removes it on close on some platforms).
          }
          resolve();
        });
      });
    },
  };
}
