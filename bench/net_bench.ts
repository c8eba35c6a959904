/**
 * Round trips over loopback TCP: a raw length-prefixed echo on a bare
 * `Deno.Conn` (the runtime's limit) beside the channel and RPC layers, with
 * the JSON and the MsgPack codec, sequential and with 256 requests in flight.
 *
 * Run alone: `deno run -A bench/net_bench.ts [--quick]`.
 *
 * @module
 */

import { openConnection, startServer } from "../channel/mod.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import type { CodecClass } from "../codecs/types.ts";
import {
  expose,
  openConnection as openRpcConnection,
  startServer as startRpcServer,
} from "../rpc/mod.ts";
import { type Measurement, medianRate } from "./measure.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
/** Requests in flight for the pipelined rows. */
export const IN_FLIGHT = 256;
/** The raw echo's payload: the size of a small JSON RPC request. */
const RAW_PAYLOAD = new TextEncoder().encode('[0, 123456, ["echo", [42], {}]]');

/**
 * A raw framed echo server: every complete frame is written back, either one
 * write per frame (`perFrame`, the baseline) or all frames of a read at once.
 */
function rawEchoServer(perFrame: boolean): { port: number; close(): Promise<void> } {
  const listener = Deno.listen(LOCAL);
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(1 << 16);
        const view = new DataView(buffer.buffer);
        let end = 0;
        try {
          while (true) {
            const n = await conn.read(buffer.subarray(end));
            if (n === null) break;
            end += n;
            let start = 0;
            while (end - start >= 4 && end - start >= 4 + view.getUint32(start)) {
              start += 4 + view.getUint32(start);
            }
            if (start > 0) {
              const out = buffer.slice(0, start);
              if (perFrame) {
                for (let at = 0; at < out.length;) {
                  const size = 4 + view.getUint32(at);
                  await writeAll(conn, out.subarray(at, at + size));
                  at += size;
                }
              } else await writeAll(conn, out);
              buffer.copyWithin(0, start, end);
              end -= start;
            }
          }
        } catch { /* closed */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/**
 * The baseline client: `window` callers, each writing its own frame and
 * awaiting its own reply (replies come back in order), no codec.
 */
async function rawCalls(conn: Deno.Conn, count: number, window: number): Promise<void> {
  const frame = new Uint8Array(4 + RAW_PAYLOAD.length);
  new DataView(frame.buffer).setUint32(0, RAW_PAYLOAD.length);
  frame.set(RAW_PAYLOAD, 4);
  const waiters: Array<() => void> = [];
  const reader = (async () => {
    const buffer = new Uint8Array(1 << 16);
    let pending = 0;
    for (let received = 0; received < count;) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("raw echo closed");
      pending += n;
      for (; pending >= frame.length; pending -= frame.length, received++) waiters.shift()!();
    }
  })();
  const call = async () => {
    const reply = new Promise<void>((resolve) => waiters.push(resolve));
    await writeAll(conn, frame);
    await reply;
  };
  await Promise.all([inFlight(call, count, window), reader]);
}

/** A byte pump: `count` frames echoed with `window` in flight, batched writes. */
async function rawRoundTrips(conn: Deno.Conn, count: number, window: number): Promise<void> {
  const frameSize = 4 + RAW_PAYLOAD.length;
  const frames = new Uint8Array(frameSize * window);
  for (let i = 0; i < window; i++) {
    new DataView(frames.buffer).setUint32(i * frameSize, RAW_PAYLOAD.length);
    frames.set(RAW_PAYLOAD, i * frameSize + 4);
  }
  const buffer = new Uint8Array(1 << 16);
  let sent = 0;
  let received = 0;
  let pendingBytes = 0;
  let toSend = Math.min(window, count);
  while (received < count) {
    if (toSend > 0) {
      const out = frames.subarray(0, toSend * frameSize);
      let w = 0;
      while (w < out.length) w += await conn.write(out.subarray(w));
      sent += toSend;
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error("raw echo closed");
    pendingBytes += n;
    const complete = Math.floor(pendingBytes / frameSize);
    pendingBytes -= complete * frameSize;
    received += complete;
    toSend = Math.min(complete, count - sent);
  }
}

/** Options every bench module of this repository's `bench/main.ts` passes. */
export interface BenchOptions {
  /** Fewer rounds and calls: a smoke run for CI (`deno task bench -- --quick`). */
  quick?: boolean;
}

/** Rounds and call counts of a run: `quick` divides the work by about five. */
export function workload(
  options: BenchOptions = {},
): { rounds: number; sequential: number; pipelined: number } {
  return options.quick
    ? { rounds: 3, sequential: 2_000, pipelined: 20_000 }
    : { rounds: 5, sequential: 5_000, pipelined: 100_000 };
}

/**
 * Raw echo rates in round trips per second: the baseline (one write per
 * message, one promise per call, no codec), sequential and pipelined, and the
 * batched byte pump (the socket's ceiling), pipelined.
 */
export async function rawEcho(
  rounds = 5,
  sequentialCalls = 5_000,
  pipelinedCalls = 100_000,
): Promise<[number, number, number]> {
  const results: number[] = [];
  for (const perFrame of [true, false]) {
    const server = rawEchoServer(perFrame);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conn.setNoDelay(true);
    if (perFrame) {
      results.push(
        await medianRate(() => rawCalls(conn, sequentialCalls, 1), sequentialCalls, rounds),
      );
      results.push(
        await medianRate(
          () => rawCalls(conn, pipelinedCalls, IN_FLIGHT),
          pipelinedCalls,
          rounds,
        ),
      );
    } else {
      const frames = 2 * pipelinedCalls;
      results.push(
        await medianRate(() => rawRoundTrips(conn, frames, IN_FLIGHT), frames, rounds),
      );
    }
    conn.close();
    await server.close();
  }
  return results as [number, number, number];
}

/** Run `call` `count` times with `window` calls in flight. */
export async function inFlight(
  call: () => Promise<unknown>,
  count: number,
  window: number,
): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** [sequential, pipelined] rates of `call`, each the median of `rounds` rounds. */
export async function callRates(
  call: () => Promise<unknown>,
  options: BenchOptions = {},
): Promise<[number, number]> {
  const { rounds, sequential, pipelined } = workload(options);
  return [
    await medianRate(() => inFlight(call, sequential, 1), sequential, rounds),
    await medianRate(() => inFlight(call, pipelined, IN_FLIGHT), pipelined, rounds),
  ];
}

/** Channel rates: [sequential, pipelined] round trips per second. */
export async function channelEcho(
  codec?: CodecClass,
  options: BenchOptions = {},
): Promise<[number, number]> {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => request.reply(request.content));
  }, { codec });
  const channel = await openConnection(server.addr, { codec });
  const message = ["echo", [42], {}];
  try {
    return await callRates(() => channel.send(message), options);
  } finally {
    await channel.close();
    await server.close();
  }
}

/** RPC rates: [sequential, pipelined] calls per second of `echo(42)`. */
export async function rpcEcho(
  codec?: CodecClass,
  options: BenchOptions = {},
): Promise<[number, number]> {
  const server = await startRpcServer(LOCAL, { echo: expose((x: unknown) => x) }, { codec });
  const client = await openRpcConnection(server.addr, { codec });
  try {
    return await callRates(() => client.remote.echo(42), options);
  } finally {
    await client.close();
    await server.close();
  }
}

/** A pair of rows: `<label>, sequential` and `<label>, 256 in flight`. */
export function callRows(
  group: string,
  label: string,
  [sequential, pipelined]: [number, number],
): Measurement[] {
  return [
    { group, name: `${label}, sequential`, value: sequential, unit: "calls/s" },
    { group, name: `${label}, ${IN_FLIGHT} in flight`, value: pipelined, unit: "calls/s" },
  ];
}

/** The raw echo, channel and RPC rows, with the JSON and the MsgPack codec. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const { rounds, sequential, pipelined } = workload(options);
  const [rawSeq, rawPipe, pump] = await rawEcho(rounds, sequential, pipelined);
  return [
    ...callRows("net", "raw echo", [rawSeq, rawPipe]),
    {
      group: "net",
      name: `byte pump (batched), ${IN_FLIGHT} in flight`,
      value: pump,
      unit: "frames/s",
    },
    ...callRows("net", "channel (JSON)", await channelEcho(undefined, options)),
    ...callRows("net", "channel (MsgPack)", await channelEcho(MsgPackCodec, options)),
    ...callRows("net", "RPC (JSON)", await rpcEcho(undefined, options)),
    ...callRows("net", "RPC (MsgPack)", await rpcEcho(MsgPackCodec, options)),
  ];
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(m.name.padEnd(40), Math.round(m.value), m.unit);
  }
}
