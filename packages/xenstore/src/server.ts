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

/** Listen on `socketPath` and serve `store` over xs_wire until `close()`. */
export async function createXenstoredServer(store: XenStore, options: XenstoredServerOptions): Promise<XenstoredServer> {
  const { socketPath, log } = options;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (existsSync(socketPath)) {
    if (!lstatSync(socketPath).isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    if (await isLiveSocket(socketPath)) throw new Error(`${socketPath}: a server is already listening`);
    unlinkSync(socketPath);
  }
  const clients = new Set<Socket>();

  const server: Server = createServer((socket) => {
    clients.add(socket);
    let drainScheduled = false;
    let conn: Connection | undefined;
    const decoder = new XsFrameDecoder();

    const send = (bytes: Uint8Array): boolean => {
      if (socket.destroyed || !socket.writable) return false;
      socket.write(bytes);
      if (socket.writableLength > maxOutputBytes) {
        log?.(`${conn?.id} disconnected: ${socket.writableLength} bytes unread`);
        socket.destroy();
        return false;
      }
      return true;
    };
    const drainEvents = (): void => {
      drainScheduled = false;
      if (conn === undefined) return;
      for (const ev of conn.takeWatchEvents(WATCH_EVENTS_PER_DRAIN)) {
        if (!send(encodeMessage(watchEventMessage(ev.path, ev.token)))) return;
      }
      if (conn.pendingWatchEvents > 0) scheduleDrain();
    };
    const scheduleDrain = (): void => {
      if (drainScheduled) return;
      drainScheduled = true;
      setImmediate(drainEvents);
    };

    conn = store.connect(options.domid ?? 0, { onWatchPending: scheduleDrain });
    log?.(`${conn.id} newconn`);

    socket.on("data", (chunk: Buffer) => {
      const c = conn;
      if (c === undefined || c.closed) {
        socket.destroy();
        return;
      }
      decoder.push(
        chunk,
        (msg) => {
          if (socket.destroyed || !socket.writable) return;
          const reply = processRequest(c, msg, { log });
          // Reply first, then the events it caused (the initial event of a WATCH follows its OK).
          if (send(encodeMessage(reply)) && c.pendingWatchEvents > 0) drainEvents();
        },
        (hdr) => {
          // oxenstored answers and then ignores the connection forever; we answer and close it.
          log?.(`${c.id} payload of ${hdr.len} bytes: closing`);
          send(encodeMessage(errorReply(hdr, "E2BIG")));
          socket.end();
        },
      );
    });
    socket.on("error", (err) => log?.(`${conn?.id} socket error: ${err.message}`));
    socket.on("close", () => {
      clients.delete(socket);
      if (decoder.pendingBytes > 0) log?.(`${conn?.id} closed mid-frame (${decoder.pendingBytes} bytes dropped)`);
      log?.(`${conn?.id} endconn`);
      conn?.close();
      conn = undefined;
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });

  return {
    socketPath,
    get clientCount() {
      return clients.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of clients) s.destroy();
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
