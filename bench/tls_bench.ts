/**
 * Channel round trips over TLS (mutual authentication, a throw-away PKI made
 * with `openssl`) beside plain TCP in the same run: sequential and with 256
 * requests in flight, and the TLS/TCP ratio of each.
 *
 * @module
 */

import { type ConnectionOptions, openConnection, startServer } from "../channel/mod.ts";
import { tlsClientOptions, tlsServerOptions } from "../channel/tls.ts";
import { createPki, hasOpenssl } from "../tests/pki.ts";
import { type Measurement, medianRate } from "./measure.ts";
import { IN_FLIGHT, inFlight } from "./net_bench.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** [sequential, pipelined] channel round trips per second with these options. */
async function echoRates(
  server: ConnectionOptions,
  client: ConnectionOptions,
  rounds: number,
): Promise<[number, number]> {
  const echo = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => request.reply(request.content));
  }, server);
  const channel = await openConnection(echo.addr, client);
  const message = ["echo", [42], {}];
  const send = () => channel.send(message);
  const sequential = await medianRate(() => inFlight(send, 5_000, 1), 5_000, rounds);
  const pipelined = await medianRate(() => inFlight(send, 100_000, IN_FLIGHT), 100_000, rounds);
  await channel.close();
  await echo.close();
  return [sequential, pipelined];
}

/** TLS and plain TCP channel rows, and their ratios (empty without `openssl`). */
export async function bench(rounds = 5): Promise<Measurement[]> {
  if (!hasOpenssl) return [];
  const pki = await createPki();
  try {
    const [device1, device2] = pki.devices;
    const [tcpSeq, tcpPipe] = await echoRates({}, {}, rounds);
    const [tlsSeq, tlsPipe] = await echoRates(
      { tls: tlsServerOptions(pki.caFile, device1.certFile, device1.keyFile) },
      { tls: tlsClientOptions(pki.caFile, device2.certFile, device2.keyFile) },
      rounds,
    );
    const row = (name: string, value: number, unit = "calls/s"): Measurement => ({
      group: "tls",
      name,
      value,
      unit,
    });
    return [
      row("channel (JSON) over TCP, sequential", tcpSeq),
      row("channel (JSON) over TLS, sequential", tlsSeq),
      row("TLS/TCP, sequential", tlsSeq / tcpSeq, "ratio"),
      row(`channel (JSON) over TCP, ${IN_FLIGHT} in flight`, tcpPipe),
      row(`channel (JSON) over TLS, ${IN_FLIGHT} in flight`, tlsPipe),
      row(`TLS/TCP, ${IN_FLIGHT} in flight`, tlsPipe / tcpPipe, "ratio"),
    ];
  } finally {
    await pki.remove();
  }
}

if (import.meta.main) {
  for (const m of await bench()) {
    const value = m.unit === "ratio" ? m.value.toFixed(2) : Math.round(m.value);
    console.log(m.name.padEnd(44), value, m.unit);
  }
}
