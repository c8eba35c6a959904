/**
 * Many connections, client and server in separate processes:
 *
 * - throughput with 1, 10, 100 and 1,000 connections (about 256 calls in
 *   flight in all, at least one per connection) of the batched raw echo,
 *   RPC JSON and RPC MsgPack, interleaved;
 * - memory per idle connection: the RPC server's RSS (VmRSS after a forced
 *   GC, read in the server process) before and after 2,000 connections are
 *   opened, and again after one call on each, for JSON and MsgPack; the
 *   baseline is taken after 3,000 calls on one extra connection, so that
 *   one-time costs of the process do not count per connection;
 * - 10,000 connections: the RSS per connection, the throughput with every
 *   connection making calls (one in flight each), and the RSS after that
 *   load, for JSON and then MsgPack (one codec at a time: 2 x 10,000 sockets
 *   would pass the process's file limit).
 *
 * Run alone: `deno run -A bench/conns_bench.ts [--quick]`.
 *
 * @module
 */

import { openConnection, type RpcClient } from "../rpc/mod.ts";
import { inFlight, interleave, type Measurement, summarize, type Workload } from "./measure.ts";
import { type BenchOptions, type Caller, connectCaller, effort, RAW_BATCHED } from "./net_bench.ts";
import { codecClass, type CodecName, type ServerKind, spawnServer } from "./server.ts";

const GROUP = "connections, 2 processes";
const MEMORY = "memory per connection (RPC server RSS)";
const TOTAL_IN_FLIGHT = 256;

/** Open `count` callers to `port`, `batch` connects at a time. */
async function openCallers(
  kind: ServerKind,
  codec: CodecName,
  port: number,
  count: number,
  batch = 200,
): Promise<Caller[]> {
  const callers: Caller[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    callers.push(
      ...await Promise.all(Array.from({ length: n }, () => connectCaller(kind, codec, port))),
    );
  }
  return callers;
}

/** Calls over all `callers`, `perConnection` in flight on each. */
function spread(callers: readonly Caller[], perConnection: number) {
  const window = callers.length * perConnection;
  return (count: number) =>
    inFlight((i) => callers[i % callers.length].call(i), count, Math.min(window, count));
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** The name of a scaling row. */
export function scalingName(label: string, connections: number): string {
  const each = Math.max(1, Math.ceil(TOTAL_IN_FLIGHT / connections));
  return `${label}, ${fmt(connections)} connection${
    connections > 1 ? "s" : ""
  } x ${each} in flight`;
}

/** Throughput with 1 to 1,000 connections. */
async function scaling(options: BenchOptions): Promise<Measurement[]> {
  const counts = [1, 10, 100, 1_000];
  const kinds: Array<[string, ServerKind, CodecName]> = [
    [RAW_BATCHED, "raw-batch", "json"],
    ["RPC (JSON)", "rpc", "json"],
    ["RPC (MsgPack)", "rpc", "msgpack"],
  ];
  const servers = new Map<string, Awaited<ReturnType<typeof spawnServer>>>();
  const workloads: Workload[] = [];
  for (const connections of counts) {
    for (const [label, kind, codec] of kinds) {
      let callers: Caller[] = [];
      const each = Math.max(1, Math.ceil(TOTAL_IN_FLIGHT / connections));
      workloads.push({
        group: GROUP,
        name: scalingName(label, connections),
        unit: "calls/s",
        baseline: label === RAW_BATCHED ? undefined : scalingName(RAW_BATCHED, connections),
        warmup: options.quick ? 5_000 : 20_000,
        minCount: connections * each,
        setup: async () => {
          const key = `${kind} ${codec}`;
          if (!servers.has(key)) servers.set(key, await spawnServer(kind, codec));
          callers = await openCallers(kind, codec, servers.get(key)!.port, connections);
        },
        run: (count) => spread(callers, each)(count),
        teardown: async () => {
          await Promise.all(callers.map((caller) => caller.close()));
        },
      });
    }
  }
  try {
    return await interleave(workloads, effort(options));
  } finally {
    for (const server of servers.values()) await server.close();
  }
}

/** Idle memory per connection and the 10,000-connection load, for one codec. */
async function manyConnections(
  codec: CodecName,
  idle: number,
  many: number,
  reps: number,
): Promise<Measurement[]> {
  const label = codec === "msgpack" ? "RPC (MsgPack)" : "RPC (JSON)";
  const server = await spawnServer("rpc", codec);
  const clients: RpcClient[] = [];
  const addr = { hostname: "127.0.0.1", port: server.port };
  const open = async (count: number) => {
    for (let i = 0; i < count; i += 200) {
      const n = Math.min(200, count - i);
      clients.push(
        ...await Promise.all(
          Array.from({ length: n }, () => openConnection(addr, { codec: codecClass(codec) })),
        ),
      );
    }
  };
  const callEach = async (from: number) => {
    await Promise.all(
      clients.slice(from).map(async (client, i) => {
        if (await client.remote.echo(i) !== i) throw new Error(`${label}: wrong reply`);
      }),
    );
  };
  const rows: Measurement[] = [];
  const perConnection = (name: string, bytes: number, connections: number) =>
    rows.push({
      group: MEMORY,
      name: `${label}, ${name}`,
      value: bytes / connections / 1024,
      unit: "KiB",
      runs: 1,
    });
  try {
    // Warm the server up on one extra connection first, so that one-time costs (the
    // runtime's code paged in, compiled code, the GC's and compiler's memory) do not
    // count as memory per connection.
    const warmup = await openConnection(addr, { codec: codecClass(codec) });
    await inFlight(
      async (i) => {
        if (await warmup.remote.echo(i) !== i) throw new Error(`${label}: wrong reply`);
      },
      WARMUP_CALLS,
      64,
    );
    // Closed: the server admits 10,000 connections (maxConnections), all for the rows.
    await warmup.close();
    const base = await server.rss();
    await open(idle);
    // The server makes its side of a connection when it accepts it; let it catch up.
    await callEach(idle - 1);
    const connected = await server.rss();
    await callEach(0);
    const used = await server.rss();
    perConnection(`${fmt(idle)} idle connections, never used`, connected - base, idle);
    perConnection(`${fmt(idle)} idle connections, after one call each`, used - base, idle);
    await open(many - idle);
    await callEach(idle);
    const full = await server.rss();
    perConnection(`${fmt(many)} idle connections, after one call each`, full - base, many);
    // Every connection busy, one call in flight each: `reps` repetitions.
    const rates: number[] = [];
    const calls = many * 5;
    for (let rep = 0; rep < reps; rep++) {
      const start = performance.now();
      await inFlight(
        async (i) => {
          if (await clients[i % many].remote.echo(i) !== i) {
            throw new Error(`${label}: wrong reply`);
          }
        },
        calls,
        many,
      );
      rates.push(calls / ((performance.now() - start) / 1000));
    }
    rows.push({
      group: GROUP,
      name: `${label}, ${fmt(many)} connections, all busy (1 in flight each)`,
      unit: "calls/s",
      ...summarize(rates),
      runs: reps,
    });
    const loaded = await server.rss();
    perConnection(`${fmt(many)} connections, after the load`, loaded - base, many);
    rows.push({
      group: MEMORY,
      name: `${label}, server RSS with ${fmt(many)} connections, after the load`,
      value: loaded / 2 ** 20,
      unit: "MiB",
      runs: 1,
    });
    return rows;
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await server.close();
  }
}

/** Calls on one extra connection before the memory baseline. */
const WARMUP_CALLS = 3_000;

/** The connection rows. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const rows = await scaling(options);
  const [idle, many] = options.quick ? [500, 1_000] : [2_000, 10_000];
  for (const codec of ["json", "msgpack"] as const) {
    rows.push(...await manyConnections(codec, idle, many, 3));
  }
  return rows;
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(
      m.name.padEnd(64),
      m.error ?? `${m.value.toPrecision(4)} (${m.min?.toPrecision(4)}..${m.max?.toPrecision(4)})`,
      m.unit,
    );
  }
  Deno.exit(0);
}
