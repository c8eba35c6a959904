/**
 * Byte-stream transports under a channel: TCP and Unix sockets from the Deno
 * runtime, and `local://` in-process listeners (`channel/local.ts`). Other
 * transports (TLS) implement the same two interfaces, so the framing code is
 * shared by all of them.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { type Address, formatAddress, parseAddress, type ResolvedAddress } from "./address.ts";
import { connectLocal, listenLocal } from "./local.ts";

/** A connected, ordered, reliable byte stream (a subset of `Deno.Conn`). */
export interface Transport {
  /** Read into `buffer`; resolves with the byte count, or `null` at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Write some of `data`; resolves with the number of bytes written. */
  write(data: Uint8Array): Promise<number>;
  /** Close the stream. Idempotent. */
  close(): void;
  /** The remote address as a URL, for messages and `RemoteException.origin`. */
  readonly peer: string;
}

/** A server socket that yields connected transports. */
export interface TransportListener extends AsyncIterable<Transport> {
  /** The bound address (with the port the OS chose for port `0`). */
  readonly addr: ResolvedAddress;
  /** Stop accepting connections. Idempotent. */
  close(): void;
}

/**
 * Wrap a `Deno.Conn` as a {@linkcode Transport}.
 *
 * Reads go straight to `conn.read()`: measured against `conn.readable` with a
 * BYOB reader, it gave about twice the sequential round trips and ~15% more
 * pipelined ones.
 */
export function fromConn(conn: Deno.Conn, peer: string): Transport {
  let closed = false;
  return {
    peer,
    read: (buffer) => conn.read(buffer),
    write: (data) => conn.write(data),
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // Already closed by the runtime after a reset: nothing left to release.
      }
    },
  };
}

function peerOf(conn: Deno.Conn): string {
  const remote = conn.remoteAddr;
  if (remote.transport === "tcp") return formatAddress(remote);
  if (remote.transport === "unix") return formatAddress({ path: remote.path || "unix" });
  return String(remote.transport);
}

/**
 * Connect to a TCP, Unix socket or `local://` (in-process) address.
 *
 * @throws {ConnectionError} naming the address when it cannot be reached.
 */
export async function connectTransport(addr: Address): Promise<Transport> {
  const target = parseAddress(addr);
  if ("local" in target) return connectLocal(target.local);
  try {
    if ("path" in target) {
      const conn = await Deno.connect({ transport: "unix", path: target.path });
      return fromConn(conn, formatAddress(target));
    }
    const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
    conn.setNoDelay(true);
    return fromConn(conn, formatAddress(target));
  } catch (cause) {
    throw new ConnectionError(
      `Could not connect to ${formatAddress(target)}: ${(cause as Error).message}. ` +
        "Is a server listening there?",
      { cause },
    );
  }
}

/** Listen on a TCP, Unix socket or `local://` (in-process) address. */
export function listenTransport(addr: Address): TransportListener {
  const target = parseAddress(addr);
  if ("local" in target) return listenLocal(target.local);
  const listener = "path" in target
    ? Deno.listen({ transport: "unix", path: target.path })
    : Deno.listen({ hostname: target.hostname, port: target.port });
  const local = listener.addr;
  const bound: ResolvedAddress = local.transport === "unix"
    ? { path: (local as Deno.UnixAddr).path }
    : { hostname: (local as Deno.NetAddr).hostname, port: (local as Deno.NetAddr).port };
  let closed = false;
  return {
    addr: bound,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
    },
    async *[Symbol.asyncIterator]() {
      while (true) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (closed || error instanceof Deno.errors.BadResource) return;
          // A failed accept (e.g. a reset during the handshake) only affects that peer.
          continue;
        }
        if (conn.remoteAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
        yield fromConn(conn, peerOf(conn));
      }
    },
  };
}
