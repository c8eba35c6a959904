/**
 * Channel round trips and agent calls over TLS (mutual authentication, a
 * throw-away PKI made with `openssl`) beside plain TCP in the same run:
 * sequential and with 256 requests in flight, and the TLS/TCP ratio of each.
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { type ConnectionOptions, openConnection, startServer } from "../channel/mod.ts";
import { tlsClientOptions, type TlsOptions, tlsServerOptions } from "../channel/tls.ts";
import { expose } from "../rpc/mod.ts";
import { createPki, hasOpenssl } from "../tests/pki.ts";
import { type Measurement, medianRate } from "./measure.ts";
import { IN_FLIGHT, inFlight } from "./net_bench.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** One way of making calls, and how to tear it down. */
interface Caller {
  call(): Promise<unknown>;
  close(): Promise<void>;
}

/** [sequential, pipelined] calls per second through a fresh `caller`. */
async function rates(make: () => Promise<Caller>, rounds: number): Promise<[number, number]> {
  const caller = await make();
  const call = () => caller.call();
  const sequential = await medianRate(() => inFlight(call, 5_000, 1), 5_000, rounds);
  const pipelined = await medianRate(() => inFlight(call, 100_000, IN_FLIGHT), 100_000, rounds);
  await caller.close();
  return [sequential, pipelined];
}

/** A channel echo with these server and client options. */
async function channelEcho(server: ConnectionOptions, client: ConnectionOptions): Promise<Caller> {
  const echo = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => request.reply(request.content));
  }, server);
  const channel = await openConnection(echo.addr, client);
  const message = ["echo", [42], {}];
  return {
    call: () => channel.send(message),
    close: async () => {
      await channel.close();
      await echo.close();
    },
  };
}

class Echo extends Agent {
  @expose
  echo(value: unknown): unknown {
    return value;
  }
}

/** An agent in one container calling an agent in another, with these TLS options. */
async function agentEcho(serverTls?: TlsOptions, clientTls?: TlsOptions): Promise<Caller> {
  const server = await Container.create(LOCAL, { tls: serverTls });
  const client = await Container.create(LOCAL, { tls: clientTls });
  const proxy = await client.connect<Echo>(new Echo(server).addr);
  return {
    call: () => proxy.echo(42),
    close: async () => {
      await client.shutdown();
      await server.shutdown();
    },
  };
}

/** TLS and plain TCP rows for channels and agents, and their ratios (empty without `openssl`). */
export async function bench(rounds = 5): Promise<Measurement[]> {
  if (!hasOpenssl) return [];
  const pki = await createPki();
  try {
    const [device1, device2] = pki.devices;
    const serverTls = tlsServerOptions(pki.caFile, device1.certFile, device1.keyFile);
    const clientTls = tlsClientOptions(pki.caFile, device2.certFile, device2.keyFile);
    const rows: Measurement[] = [];
    const row = (name: string, value: number, unit = "calls/s") =>
      rows.push({ group: "tls", name, value, unit });
    const layers: Array<[string, () => Promise<Caller>, () => Promise<Caller>]> = [
      [
        "channel (JSON)",
        () => channelEcho({}, {}),
        () => channelEcho({ tls: serverTls }, { tls: clientTls }),
      ],
      ["agent calls (JSON)", () => agentEcho(), () => agentEcho(serverTls, clientTls)],
    ];
    for (const [layer, plain, tls] of layers) {
      const [tcpSeq, tcpPipe] = await rates(plain, rounds);
      const [tlsSeq, tlsPipe] = await rates(tls, rounds);
      row(`${layer} over TCP, sequential`, tcpSeq);
      row(`${layer} over TLS, sequential`, tlsSeq);
      row(`${layer}: TLS/TCP, sequential`, tlsSeq / tcpSeq, "ratio");
      row(`${layer} over TCP, ${IN_FLIGHT} in flight`, tcpPipe);
      row(`${layer} over TLS, ${IN_FLIGHT} in flight`, tlsPipe);
      row(`${layer}: TLS/TCP, ${IN_FLIGHT} in flight`, tlsPipe / tcpPipe, "ratio");
    }
    return rows;
  } finally {
    await pki.remove();
  }
}

if (import.meta.main) {
  for (const m of await bench()) {
    const value = m.unit === "ratio" ? m.value.toFixed(2) : Math.round(m.value);
    console.log(m.name.padEnd(50), value, m.unit);
  }
}
