/**
 * Peer libraries serving the same echo service as the RPC rows of
 * `net_bench.ts`, sequential and with 256 calls in flight on loopback:
 *
 * - [Cap'n Web](https://github.com/cloudflare/capnweb): an `RpcTarget` with
 *   `echo(x)` over a WebSocket served by `Deno.serve`, the client made with
 *   `newWebSocketRpcSession`; and, since Deno's WebSocket leaves Nagle's
 *   algorithm on, the same session (`RpcSession`) over the framed TCP stream
 *   that birpc uses;
 * - [birpc](https://github.com/antfu-collective/birpc): JSON messages in
 *   length-prefixed frames on a `Deno.Conn` (the same framing as aiomas),
 *   through birpc's `post`/`on` hooks, with its per-call timeout turned off
 *   (aiomas sets none by default either).
 *
 * Run alone: `deno run -A bench/peers_bench.ts [--quick]`.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- bench-only comparison dependencies
import { newWebSocketRpcSession, RpcSession, RpcTarget, type RpcTransport } from "npm:capnweb@0.12";
// deno-lint-ignore no-import-prefix
import { createBirpc } from "npm:birpc@4";
import { type Measurement, medianRate } from "./measure.ts";
import { type BenchOptions, callRates, callRows, IN_FLIGHT, inFlight } from "./net_bench.ts";

/** The echo service of the Cap'n Web row. */
class EchoTarget extends RpcTarget {
  echo(x: unknown): unknown {
    return x;
  }
}

/**
 * Cap'n Web over a WebSocket (`Deno.serve` and the `WebSocket` client):
 * [sequential, pipelined] calls per second of `echo(42)`. Deno's WebSocket
 * leaves Nagle's algorithm on, and Cap'n Web sends each call as two messages
 * (`push`, then `pull`), so a sequential call waits for a delayed ACK (about
 * 40 ms on Linux): this row makes fewer calls to stay within seconds.
 */
export async function capnwebEcho(options: BenchOptions = {}): Promise<[number, number]> {
  const sessions: Array<{ [Symbol.dispose](): void }> = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      sessions.push(newWebSocketRpcSession(socket, new EchoTarget()));
      return response;
    },
  );
  const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  const stub = newWebSocketRpcSession<EchoTarget>(socket);
  try {
    const call = async () => await stub.echo(42);
    const rounds = options.quick ? 1 : 3;
    const [sequential, pipelined] = options.quick ? [10, 2_000] : [25, 5_000];
    return [
      await medianRate(() => inFlight(call, sequential, 1), sequential, rounds),
      await medianRate(() => inFlight(call, pipelined, IN_FLIGHT), pipelined, rounds),
    ];
  } finally {
    stub[Symbol.dispose]();
    for (const session of sessions) session[Symbol.dispose]();
    socket.close();
    await server.shutdown();
  }
}

/** Two ends of a loopback TCP connection, with Nagle's algorithm off. */
async function tcpPair(): Promise<[Deno.Conn, Deno.Conn, () => void]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  for (const conn of [client, server]) conn.setNoDelay(true);
  return [client, server, () => {
    for (const conn of [client, server]) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    listener.close();
  }];
}

/** A string message stream: what the peers' transport hooks need. */
interface MessageStream {
  /** Queue one message; messages queued in one turn are written together. */
  post(message: string): void;
  /** Set the function called with every received message. */
  on(listener: (message: string) => void): void;
}

/**
 * A message stream on a `Deno.Conn`: UTF-8 strings in frames with a 4-byte
 * big-endian length, like aiomas' wire format. Writes made in one turn go out
 * together, as the aiomas channel does, so no library gets a worse write
 * pattern than ours.
 */
function framedStream(conn: Deno.Conn): MessageStream {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let queue: Uint8Array[] = [];
  let queued = 0;
  let writing = false;
  const writeLoop = async () => {
    try {
      while (queue.length > 0) {
        const chunks = queue;
        const data = new Uint8Array(queued);
        queue = [];
        queued = 0;
        let at = 0;
        for (const chunk of chunks) {
          data.set(chunk, at);
          at += chunk.length;
        }
        for (let written = 0; written < data.length;) {
          written += await conn.write(data.subarray(written));
        }
      }
    } catch { /* closed */ }
    writing = false;
  };
  let listener: (message: string) => void = () => {};
  (async () => {
    let buffer = new Uint8Array(1 << 16);
    let end = 0;
    try {
      while (true) {
        if (end === buffer.length) {
          const bigger = new Uint8Array(buffer.length * 2);
          bigger.set(buffer);
          buffer = bigger;
        }
        const n = await conn.read(buffer.subarray(end));
        if (n === null) return;
        end += n;
        const view = new DataView(buffer.buffer);
        let start = 0;
        while (end - start >= 4 && end - start >= 4 + view.getUint32(start)) {
          const size = view.getUint32(start);
          listener(decoder.decode(buffer.subarray(start + 4, start + 4 + size)));
          start += 4 + size;
        }
        buffer.copyWithin(0, start, end);
        end -= start;
      }
    } catch { /* closed */ }
  })();
  return {
    post(message) {
      const payload = encoder.encode(message);
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, payload.length);
      queue.push(header, payload);
      queued += 4 + payload.length;
      if (!writing) {
        writing = true;
        queueMicrotask(writeLoop);
      }
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

/**
 * Cap'n Web over the same framed TCP stream as aiomas (its `RpcSession` on a
 * custom transport): [sequential, pipelined] calls per second of `echo(42)`.
 */
export async function capnwebTcpEcho(options: BenchOptions = {}): Promise<[number, number]> {
  const [clientConn, serverConn, close] = await tcpPair();
  const server = new RpcSession(capnwebTransport(framedStream(serverConn)), new EchoTarget());
  const client = new RpcSession<EchoTarget>(capnwebTransport(framedStream(clientConn)));
  const stub = client.getRemoteMain();
  try {
    return await callRates(async () => await stub.echo(42), options);
  } finally {
    stub[Symbol.dispose]();
    close();
    void server;
  }
}

/** birpc rates: [sequential, pipelined] calls per second of `echo(42)`. */
export async function birpcEcho(options: BenchOptions = {}): Promise<[number, number]> {
  const [clientConn, serverConn, close] = await tcpPair();
  const json = { serialize: JSON.stringify, deserialize: JSON.parse, timeout: -1 };
  const serverStream = framedStream(serverConn);
  createBirpc<Record<string, never>, { echo(x: unknown): unknown }>(
    { echo: (x: unknown) => x },
    { post: serverStream.post, on: serverStream.on, ...json },
  );
  const clientStream = framedStream(clientConn);
  const client = createBirpc<{ echo(x: unknown): unknown }>(
    {},
    { post: clientStream.post, on: clientStream.on, ...json },
  );
  try {
    return await callRates(() => client.echo(42), options);
  } finally {
    client.$close();
    close();
  }
}

/** The Cap'n Web and birpc rows. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  return [
    ...callRows("peers", "Cap'n Web (WebSocket)", await capnwebEcho(options)),
    ...callRows("peers", "Cap'n Web (framed TCP)", await capnwebTcpEcho(options)),
    ...callRows("peers", "birpc (framed TCP, JSON)", await birpcEcho(options)),
  ];
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(m.name.padEnd(44), Math.round(m.value), m.unit);
  }
}
