/**
 * Channel round trips and agent calls over TLS (mutual authentication, a
 * throw-away PKI made with `openssl`) beside plain TCP, client and server
 * in this process: sequential and with 256 requests in flight, interleaved,
 * each TLS row compared with its TCP row.
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { type ConnectionOptions, openConnection, startServer } from "../channel/mod.ts";
import { tlsClientOptions, type TlsOptions, tlsServerOptions } from "../channel/tls.ts";
import { expose } from "../rpc/mod.ts";
import { createPki, hasOpenssl } from "../tests/pki.ts";
import { interleave, type Measurement, type Workload } from "./measure.ts";
import { type BenchOptions, type CallTarget, callWorkloads, effort } from "./net_bench.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const GROUP = "tls, 1 process";

/** One way of making calls, and how to tear it down. */
interface Caller {
  call(i: number): Promise<unknown>;
  close(): Promise<void>;
}

/** A {@linkcode CallTarget} made by `make` on first use. */
function target(make: () => Promise<Caller>): CallTarget {
  let users = 0;
  let caller: Caller | undefined;
  return {
    get caller() {
      return caller;
    },
    async open() {
      if (users++ === 0) caller = await make();
    },
    async release() {
      if (--users === 0) await caller?.close();
    },
  };
}

function check(what: string, i: number) {
  return (reply: unknown) => {
    if (reply !== i) throw new Error(`${what}: wrong reply ${reply}, expected ${i}`);
  };
}

/** A channel echo with these server and client options. */
async function channelEcho(server: ConnectionOptions, client: ConnectionOptions): Promise<Caller> {
  const echo = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => request.reply(request.content));
  }, server);
  const channel = await openConnection(echo.addr, client);
  return {
    call: (i) => channel.send(i).then(check("channel", i)),
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
    call: (i) => proxy.echo(i).then(check("agent", i)),
    close: async () => {
      await client.shutdown();
      await server.shutdown();
    },
  };
}

/**
 * TLS and plain TCP rows for channels and agents, interleaved, each TLS row
 * compared with its TCP row (empty without `openssl`).
 */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  if (!hasOpenssl) return [];
  const pki = await createPki();
  try {
    const [device1, device2] = pki.devices;
    const serverTls = tlsServerOptions(pki.caFile, device1.certFile, device1.keyFile);
    const clientTls = tlsClientOptions(pki.caFile, device2.certFile, device2.keyFile);
    const layers: Array<[string, () => Promise<Caller>, () => Promise<Caller>]> = [
      [
        "channel (JSON)",
        () => channelEcho({}, {}),
        () => channelEcho({ tls: serverTls }, { tls: clientTls }),
      ],
      ["agent calls (JSON)", () => agentEcho(), () => agentEcho(serverTls, clientTls)],
    ];
    const workloads: Workload[] = [];
    for (const [layer, plain, tls] of layers) {
      const tcpRows = callWorkloads(GROUP, `${layer} over TCP`, target(plain), options);
      const tlsRows = callWorkloads(GROUP, `${layer} over TLS`, target(tls), options);
      tlsRows.forEach((row, i) => row.baseline = tcpRows[i].name);
      tcpRows.forEach((row) => row.baseline = undefined);
      workloads.push(...tcpRows, ...tlsRows);
    }
    return await interleave(workloads, effort(options));
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
