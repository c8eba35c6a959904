/**
 * Round trips on loopback TCP, client and server in separate processes (the
 * server is `bench/server.ts`, spawned per row) and, beside them, in one
 * process: the raw baselines (`raw.ts`), the aiomas channel and RPC layers
 * with the JSON and the MsgPack codec, and the peer RPC libraries
 * (`peers.ts`), each sequential (with p50/p99/p99.9 latency) and with 256
 * calls in flight. Every reply is checked. The repetitions are interleaved.
 *
 * Run alone: `deno run -A bench/net_bench.ts [--quick]`.
 *
 * @module
 */

import { Container } from "../agent/mod.ts";
import { openConnection as openChannel } from "../channel/mod.ts";
import { expose, openConnection as openRpc, ref } from "../rpc/mod.ts";
import {
  inFlight,
  interleave,
  type Measurement,
  pairedCost,
  sequentialLatencies,
  type Workload,
} from "./measure.ts";
import { connectRaw, pump, rawEchoClient } from "./raw.ts";
import {
  type BenchServer,
  type BenchServerOptions,
  type Callback,
  codecClass,
  type CodecName,
  ECHO_AGENT_ID,
  type EchoAgent,
  importPeers,
  type PeerKind,
  type ServerKind,
  type ServerProcesses,
  spawnServer,
  spawnServers,
  startBenchServer,
} from "./server.ts";

/** Calls in flight in the pipelined rows. */
export const IN_FLIGHT = 256;
/** The suffix of pipelined rows. */
export const PIPELINED = `${IN_FLIGHT} in flight`;
/** The name of the baseline rows. */
export const RAW_BATCHED = "raw echo (batched)";
/** Group names of the two placements. */
export const TWO_PROCESSES = "calls, 2 processes";
export const ONE_PROCESS = "calls, 1 process";

/** Options every bench module of `bench/main.ts` takes. */
export interface BenchOptions {
  /** Fewer and shorter repetitions: a smoke run (`deno task bench -- --quick`). */
  quick?: boolean;
}

/** Repetitions and seconds per repetition of the interleaved rows. */
export function effort(options: BenchOptions = {}): { reps: number; target: number } {
  return options.quick ? { reps: 3, target: 0.08 } : { reps: 3, target: 0.4 };
}

/** A connected client whose `call(i)` makes one checked round trip. */
export interface Caller {
  /** One round trip carrying `i`; rejects when the reply is wrong. */
  call(i: number): Promise<unknown>;
  /** Close the connection. */
  close(): Promise<void> | void;
}

function wrong(what: string, got: unknown, expected: unknown): Error {
  return new Error(`${what}: wrong reply ${JSON.stringify(got)}, expected ${expected}`);
}

/** A callback passed by reference: a fresh one per call in the callback rows. */
class Progress implements Callback {
  @expose
  report(x: number): number {
    return x + 1;
  }
}

/**
 * Connect a checked caller of `kind` to the server at 127.0.0.1:`port`.
 * With `callback`, an RPC caller calls `callback(ref(new Progress()), i)`:
 * the server calls the fresh callback back once.
 */
export async function connectCaller(
  kind: ServerKind,
  codec: CodecName,
  port: number,
  options: BenchServerOptions & { callback?: boolean } = {},
): Promise<Caller> {
  const addr = { hostname: "127.0.0.1", port };
  if (kind === "raw-batch" || kind === "raw-frame") {
    const client = rawEchoClient(await connectRaw(port), kind === "raw-batch");
    return { call: (i) => client.call(i), close: () => client.close() };
  }
  if (kind === "channel") {
    const channel = await openChannel(addr, {
      codec: codecClass(codec),
      heartbeat: options.heartbeat,
    });
    return {
      call: (i) =>
        channel.send(["echo", [i], {}]).then((reply) => {
          if ((reply as [string, number[]])[1][0] !== i) throw wrong("channel", reply, i);
        }),
      close: () => channel.close(),
    };
  }
  if (kind === "rpc") {
    const client = await openRpc(addr, {
      codec: codecClass(codec),
      heartbeat: options.heartbeat,
      release: options.release,
    });
    if (options.callback) {
      const callback = client.remote.callback;
      return {
        call: (i) =>
          callback(ref(new Progress()), i).then((reply) => {
            if (reply !== i + 1) throw wrong("RPC callback", reply, i + 1);
          }),
        close: () => client.close(),
      };
    }
    const echo = client.remote.echo;
    return {
      call: (i) =>
        echo(i).then((reply) => {
          if (reply !== i) throw wrong("RPC", reply, i);
        }),
      close: () => client.close(),
    };
  }
  if (kind === "agent") {
    // A container of its own (with the server's `metrics` option) and a proxy to the echo agent.
    const container = await Container.create("tcp://127.0.0.1:0", {
      codec: codecClass(codec),
      metrics: options.metrics,
    });
    const agent = await container.connect<EchoAgent>(
      `tcp://127.0.0.1:${port}/${ECHO_AGENT_ID}`,
    );
    return {
      call: (i) =>
        agent.echo(i).then((reply) => {
          if (reply !== i) throw wrong("agent", reply, i);
        }),
      close: () => container.shutdown(),
    };
  }
  if (kind === "birpc" || kind === "capnweb" || kind === "capnweb-ws") {
    const { connectPeer } = await importPeers();
    const client = await connectPeer(kind as PeerKind, port);
    return {
      call: (i) =>
        client.echo(i).then((reply) => {
          if (reply !== i) throw wrong(kind, reply, i);
        }),
      close: () => client.close(),
    };
  }
  throw new TypeError(`No caller for server kind ${kind}`);
}

/** What the call rows need: open once for all rows using it, then a caller. */
export interface CallTarget {
  /** Start and connect (once for all users). */
  open(): Promise<void>;
  /** Close when the last user is done. */
  release(): Promise<void>;
  /** The connected caller, once open. */
  readonly caller: Caller | undefined;
}

/** A server (in a subprocess or in this process) and one client, shared by the rows using it. */
export class Target implements CallTarget {
  #users = 0;
  #server: BenchServer | undefined;
  caller: Caller | undefined;
  port = 0;

  constructor(
    readonly kind: ServerKind,
    readonly codec: CodecName,
    readonly spawn: boolean,
    readonly options: BenchServerOptions & { callback?: boolean } = {},
  ) {}

  /** Start the server and connect (once for all users). */
  async open(): Promise<void> {
    if (this.#users++ > 0) return;
    this.#server = this.spawn
      ? await spawnServer(this.kind, this.codec, this.options)
      : await startBenchServer(this.kind, this.codec, this.options);
    this.port = this.#server.port;
    if (this.kind !== "pump") {
      this.caller = await connectCaller(this.kind, this.codec, this.#server.port, this.options);
    }
  }

  /** Close when the last user is done. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    await this.caller?.close();
    await this.#server?.close();
  }
}

/** The sequential and pipelined workloads of one target. */
export function callWorkloads(
  group: string,
  label: string,
  target: CallTarget,
  options: BenchOptions & {
    sequentialWarmup?: number;
    pipelinedWarmup?: number;
    /** Report p50/p99/p99.9 of the sequential calls (default: only for two processes). */
    latency?: boolean;
  } = {},
): Workload[] {
  const latency = options.latency ?? group === TWO_PROCESSES;
  // The baseline rows are compared with nothing.
  const compare = (mode: string) => label === RAW_BATCHED ? undefined : `${RAW_BATCHED}, ${mode}`;
  const quick = options.quick ?? false;
  const common = {
    group,
    unit: "calls/s",
    setup: () => target.open(),
    teardown: () => target.release(),
  };
  let next = 0;
  return [
    {
      ...common,
      name: `${label}, sequential`,
      baseline: compare("sequential"),
      warmup: options.sequentialWarmup ?? (quick ? 200 : 1_000),
      minCount: 3,
      run: async (count) => {
        const latencies = await sequentialLatencies((i) => target.caller!.call(next + i), count);
        return latency ? latencies : undefined;
      },
    },
    {
      ...common,
      name: `${label}, ${PIPELINED}`,
      baseline: compare(PIPELINED),
      warmup: options.pipelinedWarmup ?? (quick ? 5_000 : 20_000),
      minCount: IN_FLIGHT,
      run: async (count) => {
        await inFlight((i) => target.caller!.call(next + i), count, IN_FLIGHT);
        next += count;
      },
    },
  ];
}

/** The byte pump row of a target (a `pump` server). */
function pumpWorkload(group: string, target: Target, options: BenchOptions): Workload {
  let conn: Deno.Conn | undefined;
  return {
    group,
    name: `byte pump, ${IN_FLIGHT} frames in flight (no per-call promise)`,
    unit: "calls/s",
    baseline: `${RAW_BATCHED}, ${PIPELINED}`,
    warmup: options.quick ? 20_000 : 100_000,
    minCount: IN_FLIGHT,
    setup: async () => {
      await target.open();
      conn = await connectRaw(target.port);
    },
    run: (count) => pump(conn!, count, IN_FLIGHT),
    teardown: async () => {
      conn?.close();
      await target.release();
    },
  };
}

/** Our layers with both codecs, and the raw baselines, placed as `spawn` says. */
export function layerWorkloads(group: string, spawn: boolean, options: BenchOptions): Workload[] {
  const rows: Workload[] = [
    ...callWorkloads(group, RAW_BATCHED, new Target("raw-batch", "json", spawn), options),
    ...callWorkloads(
      group,
      "raw echo (one write per frame)",
      new Target("raw-frame", "json", spawn),
      options,
    ),
    pumpWorkload(group, new Target("pump", "json", spawn), options),
  ];
  for (const [layer, kind] of [["channel", "channel"], ["RPC", "rpc"]] as const) {
    for (const [codec, name] of [["json", "JSON"], ["msgpack", "MsgPack"]] as const) {
      rows.push(
        ...callWorkloads(group, `${layer} (${name})`, new Target(kind, codec, spawn), options),
      );
    }
  }
  return rows;
}

/** The peer libraries' rows (two processes). */
export function peerWorkloads(group: string, options: BenchOptions): Workload[] {
  const quick = options.quick ?? false;
  return [
    ...callWorkloads(group, "birpc (framed TCP, JSON)", new Target("birpc", "json", true), options),
    ...callWorkloads(group, "Cap'n Web (framed TCP)", new Target("capnweb", "json", true), options),
    // About 40 ms per sequential call (Nagle's algorithm and a delayed ACK): few calls.
    ...callWorkloads(group, "Cap'n Web (WebSocket)", new Target("capnweb-ws", "json", true), {
      ...options,
      sequentialWarmup: quick ? 2 : 5,
      pipelinedWarmup: quick ? 500 : 2_000,
    }),
  ];
}

/** The interval of the heartbeat row, in seconds. */
export const HEARTBEAT = 1;

/**
 * Two servers in one subprocess, each with a client connection of its own
 * from this process, differing only in their options: `targets[0]` serves
 * with `without`, `targets[1]` with `withFeature`.
 */
export class TwinTargets {
  #users = 0;
  #process: ServerProcesses | undefined;
  #options: [BenchServerOptions, BenchServerOptions];
  /** The two call targets. */
  readonly targets: [CallTarget, CallTarget];

  constructor(
    readonly kind: ServerKind,
    readonly codec: CodecName,
    without: BenchServerOptions,
    withFeature: BenchServerOptions,
  ) {
    this.#options = [without, withFeature];
    this.targets = [this.#target(0), this.#target(1)];
  }

  async #open(): Promise<ServerProcesses> {
    if (this.#users++ === 0) {
      const { kind, codec } = this;
      this.#process = await spawnServers(
        this.#options.map((options) => ({ kind, codec, options })),
      );
    }
    return this.#process!;
  }

  async #release(): Promise<void> {
    if (--this.#users === 0) await this.#process?.close();
  }

  #target(index: 0 | 1): CallTarget {
    const target = {
      caller: undefined as Caller | undefined,
      open: async () => {
        const { ports } = await this.#open();
        const options = this.#options[index];
        target.caller = await connectCaller(this.kind, this.codec, ports[index], options);
      },
      release: async () => {
        await target.caller?.close();
        await this.#release();
      },
    };
    return target;
  }
}

/** The name of issue 16's heartbeat cost row (percent, paired). */
export const HEARTBEAT_COST =
  `RPC (JSON), ${PIPELINED}: with heartbeat ${HEARTBEAT} s / without, ` +
  "paired";

/** Pairs of repetitions and seconds per repetition of the paired cost rows. */
export function pairedEffort(options: BenchOptions = {}): { pairs: number; target: number } {
  return options.quick ? { pairs: 4, target: 0.08 } : { pairs: 24, target: 0.4 };
}

/**
 * Issue 16's heartbeat cost (two processes): pipelined RPC JSON calls to
 * one server process on two ports, with heartbeats on both sides of one
 * connection and off on the other, in alternating pairs
 * ({@linkcode pairedCost}).
 */
export function heartbeatCost(options: BenchOptions = {}): Promise<Measurement[]> {
  const twins = new TwinTargets("rpc", "json", {}, { heartbeat: HEARTBEAT });
  const [without, withBeat] = twins.targets.map((target, i) =>
    callWorkloads(
      TWO_PROCESSES,
      i === 0 ? "RPC (JSON), heartbeat off (paired)" : `RPC (JSON) with heartbeat ${HEARTBEAT} s`,
      target,
      options,
    )[1]
  );
  return pairedCost(HEARTBEAT_COST, without, withBeat, pairedEffort(options));
}

/**
 * Issue 16's callback rows (two processes): calls that each pass a fresh
 * callback that the server calls back once, with the release of lent
 * references on (the default) and off.
 */
export function lifetimeWorkloads(group: string, options: BenchOptions): Workload[] {
  const pipelined = (label: string, target: Target, baseline?: string) => {
    const row = callWorkloads(group, label, target, options)[1];
    row.baseline = baseline;
    return row;
  };
  const released = `RPC (JSON) callback(ref(new Progress())), release on, ${PIPELINED}`;
  return [
    pipelined(
      "RPC (JSON) callback(ref(new Progress())), release on",
      new Target("rpc", "json", true, { callback: true }),
    ),
    pipelined(
      "RPC (JSON) callback(ref(new Progress())), release off",
      new Target("rpc", "json", true, { callback: true, release: false }),
      released,
    ),
  ];
}

/** Python aiomas figures recorded elsewhere (not measured by this run). */
export function pythonRows(): Measurement[] {
  const recorded = "recorded in issue 18 with Python 3.11 and aiomas 2.0; not measured in this run";
  const row = (name: string, value: number): Measurement => ({
    group: "Python aiomas (recorded)",
    name,
    value,
    unit: "calls/s",
    recorded,
  });
  return [
    row("Python aiomas RPC (JSON), sequential", 18_900),
    row("Python aiomas RPC (MsgPack), sequential", 22_100),
    row(`Python aiomas RPC (JSON), ${PIPELINED}`, 29_400),
    row(`Python aiomas RPC (MsgPack), ${PIPELINED}`, 38_200),
  ];
}

/** The call rows: two processes (with the peers), then one process. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const rows = await interleave(
    [
      ...layerWorkloads(TWO_PROCESSES, true, options),
      ...lifetimeWorkloads(TWO_PROCESSES, options),
      ...peerWorkloads(TWO_PROCESSES, options),
      ...layerWorkloads(ONE_PROCESS, false, options),
    ],
    effort(options),
  );
  return [...rows, ...await heartbeatCost(options), ...pythonRows()];
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(
      m.group.padEnd(20),
      m.name.padEnd(56),
      m.error ?? `${m.value.toPrecision(4)} (${m.min?.toPrecision(4)}..${m.max?.toPrecision(4)})`,
      m.unit,
    );
  }
  Deno.exit(0);
}
