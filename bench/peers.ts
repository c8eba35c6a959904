/**
 * Peer RPC libraries serving the same `echo(x)` as the aiomas RPC rows, for
 * `deno task bench` (servers run in `bench/server.ts`, clients in the bench):
 *
 * - [birpc](https://github.com/antfu-collective/birpc): JSON messages in
 *   length-prefixed frames on a `Deno.Conn` (the same framing as aiomas),
 *   through birpc's `post`/`on` hooks, with its per-call timeout turned off
 *   (aiomas sets none by default either);
 * - [Cap'n Web](https://github.com/cloudflare/capnweb): an `RpcTarget` over
 *   that same framed TCP stream (its `RpcSession` on a custom transport), and
 *   over a WebSocket served by `Deno.serve` (`newWebSocketRpcSession`). Deno's
 *   WebSocket leaves Nagle's algorithm on and Cap'n Web sends each call as
 *   two messages, so a sequential WebSocket call waits for a delayed ACK
 *   (about 40 ms on Linux): the framed-TCP row shows the library without it.
 *
 * The framed stream writes like the aiomas channel (the first frame at once,
 * the frames queued meanwhile together), so no library gets a worse write
 * pattern than ours.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- bench-only comparison dependencies
import { newWebSocketRpcSession, RpcSession, RpcTarget, type RpcTransport } from "npm:capnweb@0.12";
// deno-lint-ignore no-import-prefix
import { createBirpc } from "npm:birpc@4";
import { CoalescingWriter, readFrames, serveEach } from "./raw.ts";
import type { BenchServer, PeerClient, PeerKind } from "./server.ts";

/** The echo service of the Cap'n Web rows. */
class EchoTarget extends RpcTarget {
  echo(x: unknown): unknown {
    return x;
  }
}

/** A string message stream: what the peers' transport hooks need. */
interface MessageStream {
  post(message: string): void;
  on(listener: (message: string) => void): void;
}

/** UTF-8 messages in frames with a 4-byte big-endian length on `conn`. */
function framedStream(conn: Deno.Conn): MessageStream {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const writer = new CoalescingWriter(conn);
  let listener: (message: string) => void = () => {};
  readFrames(conn, (buffer, start, size) => {
    listener(decoder.decode(buffer.subarray(start, start + size)));
  }).catch(() => {});
  return {
    post(message) {
      const payload = encoder.encode(message);
      const frame = new Uint8Array(4 + payload.length);
      new DataView(frame.buffer).setUint32(0, payload.length);
      frame.set(payload, 4);
      writer.copy(frame);
    },
    on(fn) {
      listener = fn;
    },
  };
}

/** Cap'n Web's `RpcTransport` on a {@linkcode MessageStream}. */
function capnwebTransport(stream: MessageStream): RpcTransport {
  const received: string[] = [];
  const waiting: Array<(message: string) => void> = [];
  stream.on((message) => {
    const wake = waiting.shift();
    if (wake) wake(message);
    else received.push(message);
  });
  return {
    send: (message) => stream.post(message),
    receive: () =>
      received.length > 0
        ? Promise.resolve(received.shift()!)
        : new Promise((resolve) => waiting.push(resolve)),
  };
}

const BIRPC_JSON = { serialize: JSON.stringify, deserialize: JSON.parse, timeout: -1 };

/** Start a peer library's echo server on 127.0.0.1; resolves with its port and `close()`. */
export function startPeerServer(
  kind: PeerKind,
): BenchServer {
  if (kind === "capnweb-ws") {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        newWebSocketRpcSession(socket, new EchoTarget());
        return response;
      },
    );
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  return serveEach(Deno.listen({ hostname: "127.0.0.1", port: 0 }), (conn) => {
    const stream = framedStream(conn);
    if (kind === "birpc") {
      createBirpc<Record<string, never>, { echo(x: unknown): unknown }>(
        { echo: (x: unknown) => x },
        { post: stream.post, on: stream.on, ...BIRPC_JSON },
      );
    } else new RpcSession(capnwebTransport(stream), new EchoTarget());
  });
}

/** Connect a peer library's client to its server at 127.0.0.1:`port`. */
export async function connectPeer(kind: PeerKind, port: number): Promise<PeerClient> {
  if (kind === "capnweb-ws") {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    const stub = newWebSocketRpcSession<EchoTarget>(socket);
    return {
      echo: async (x) => await stub.echo(x),
      close() {
        stub[Symbol.dispose]();
        socket.close();
      },
    };
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const stream = framedStream(conn);
  const closeConn = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  if (kind === "birpc") {
    const client = createBirpc<{ echo(x: unknown): unknown }>(
      {},
      { post: stream.post, on: stream.on, ...BIRPC_JSON },
    );
    return {
      echo: (x) => client.echo(x),
      close() {
        client.$close();
        closeConn();
      },
    };
  }
  const session = new RpcSession<EchoTarget>(capnwebTransport(stream));
  const stub = session.getRemoteMain();
  return {
    echo: async (x) => await stub.echo(x),
    close() {
      stub[Symbol.dispose]();
      closeConn();
    },
  };
}
