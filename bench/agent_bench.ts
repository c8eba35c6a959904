/**
 * The agent layer's benchmarks:
 *
 * - agent-to-agent calls between two containers on loopback, sequential and
 *   with 256 in flight, with the JSON and the MsgPack codec (compare with the
 *   raw echo of `net_bench.ts`);
 * - the cost of call metrics (issue 20): pipelined agent calls with metrics on
 *   and off, paired on shared processes (`measure.ts` `pairedCost`), with the
 *   callee container in a subprocess and with both in this process;
 * - 1,000,000 idle agents in one container: creation time and heap per agent
 *   (in a subprocess with `--v8-flags=--expose-gc`, see `one_million.ts`);
 * - 10,000 agents in each of two containers, every one calling random agents
 *   of the other container (a seeded PRNG), all at once: calls per second.
 *
 * Run alone: `deno run -A bench/agent_bench.ts [--quick]`.
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import type { CodecClass } from "../codecs/types.ts";
import { expose } from "../rpc/mod.ts";
import type { RemoteOf } from "../rpc/proxy.ts";
import { mulberry32 } from "../tests/prng.ts";
import { interleave, type Measurement, pairedCost, repeatRate } from "./measure.ts";
import {
  type BenchOptions,
  type Caller,
  type CallTarget,
  callWorkloads,
  effort,
  pairedEffort,
  PIPELINED,
  RAW_BATCHED,
  Target,
  TwinTargets,
} from "./net_bench.ts";
import type { OneMillionResult } from "./one_million.ts";
import { EchoAgent } from "./server.ts";

const fmt = (n: number) => n.toLocaleString("en-US");
const LOCAL = { hostname: "127.0.0.1", port: 0 };
const GROUP = "agents, 1 process (2 containers)";
/** The group of the two-process agent rows. */
const TWO_GROUP = "agents, 2 processes";
/** Issue 20's cost rows (percent, paired): client and server in separate processes, and in one. */
export const METRICS_COST = `agent calls (JSON), ${PIPELINED}: with call metrics / without, paired`;

/** Two containers in this process, an `Echo` agent in one, a proxy to it in the other. */
class AgentTarget implements CallTarget {
  #users = 0;
  #containers: Container[] = [];
  caller: Caller | undefined;

  constructor(readonly codec?: CodecClass, readonly metrics = true) {}

  async open(): Promise<void> {
    if (this.#users++ > 0) return;
    const { codec, metrics } = this;
    this.#containers = await Promise.all([
      Container.create(LOCAL, { codec, metrics }),
      Container.create(LOCAL, { codec, metrics }),
    ]);
    const [near, far] = this.#containers;
    const echo = await near.connect<EchoAgent>(new EchoAgent(far).addr);
    this.caller = {
      call: (i) =>
        echo.echo(i).then((reply) => {
          if (reply !== i) throw new Error(`agent echo: wrong reply ${reply}, expected ${i}`);
        }),
      close: () => {},
    };
  }

  async release(): Promise<void> {
    if (--this.#users > 0) return;
    await Promise.all(this.#containers.map((container) => container.shutdown()));
  }
}

/**
 * Agent-to-agent calls between two containers in this process, JSON and
 * MsgPack, beside the batched raw echo in this process, interleaved.
 */
export function agentCallRows(options: BenchOptions = {}): Promise<Measurement[]> {
  return interleave([
    ...callWorkloads(GROUP, RAW_BATCHED, new Target("raw-batch", "json", false), options),
    ...callWorkloads(GROUP, "agent calls (JSON)", new AgentTarget(), options),
    ...callWorkloads(GROUP, "agent calls (MsgPack)", new AgentTarget(MsgPackCodec), options),
  ], effort(options));
}

/**
 * Issue 20's cost of call metrics (on by default): pipelined agent calls
 * with metrics on both sides against calls with `metrics: false`, in
 * alternating pairs ({@linkcode pairedCost}), with the callee container in a
 * subprocess (one process serving both) and, beside that, with both
 * containers in this process (each call then pays both sides' bookkeeping).
 */
export async function metricsCost(options: BenchOptions = {}): Promise<Measurement[]> {
  const twins = new TwinTargets("agent", "json", { metrics: false }, {});
  const paired = (group: string, targets: readonly CallTarget[]) => {
    const [without, withMetrics] = targets.map((target, i) =>
      callWorkloads(
        group,
        i === 0 ? "agent calls (JSON), metrics off (paired)" : "agent calls (JSON), metrics on",
        target,
        options,
      )[1]
    );
    return pairedCost(METRICS_COST, without, withMetrics, pairedEffort(options));
  };
  return [
    ...await paired(TWO_GROUP, twins.targets),
    ...await paired(GROUP, [new AgentTarget(undefined, false), new AgentTarget()]),
  ];
}

/** An agent of the swarm: answers pings and pings random agents of the other container. */
class Peer extends Agent {
  /** Proxies for every agent of the other container (shared by this container's agents). */
  others: RemoteOf<Peer>[] = [];
  #random: () => number;

  constructor(container: Container, seed: number) {
    super(container);
    this.#random = mulberry32(seed);
  }

  @expose
  ping(x: number): number {
    return x + 1;
  }

  /** Call `count` random agents of the other container, one after the other. */
  async run(count: number): Promise<void> {
    const others = this.others;
    for (let i = 0; i < count; i++) {
      const target = others[Math.floor(this.#random() * others.length)];
      if (await target.ping(i) !== i + 1) throw new Error("wrong reply");
    }
  }
}

/**
 * `agents` agents in each of two containers, each making `calls` calls to
 * random agents of the other container, all agents at once: calls per second
 * (the median of `rounds` rounds).
 */
export async function swarm(agents: number, calls: number, rounds: number): Promise<Measurement> {
  const containers = await Promise.all([Container.create(LOCAL), Container.create(LOCAL)]);
  try {
    const peers = containers.map((container, c) =>
      Array.from({ length: agents }, (_, i) => new Peer(container, 1 + c * agents + i))
    );
    // Connect once to every agent of the other container (one shared socket each way).
    for (const [c, container] of containers.entries()) {
      const others = await Promise.all(
        peers[1 - c].map((peer) => container.connect<Peer>(peer.addr)),
      );
      for (const peer of peers[c]) peer.others = others;
    }
    const all = peers.flat();
    return await repeatRate(
      "agents",
      `${fmt(agents)} + ${fmt(agents)} agents calling random agents of the other container`,
      "calls/s",
      () => Promise.all(all.map((peer) => peer.run(calls))),
      all.length * calls,
      rounds,
    );
  } finally {
    await Promise.all(containers.map((container) => container.shutdown()));
  }
}

/** Run `one_million.ts` in a subprocess with the GC exposed. */
export async function oneMillion(count = 1_000_000): Promise<OneMillionResult> {
  const script = new URL("./one_million.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script.href, String(count)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`one_million.ts failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as OneMillionResult;
}

/** The agent rows. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const rows = [...await agentCallRows(options), ...await metricsCost(options)];
  const million = await oneMillion();
  const label = `${million.agents.toLocaleString("en-US")} idle agents`;
  rows.push(
    { group: "agents", name: `${label}: creation time`, value: million.seconds, unit: "s" },
    { group: "agents", name: `${label}: heap`, value: million.heapBytes / 2 ** 20, unit: "MiB" },
    {
      group: "agents",
      name: `${label}: heap per agent`,
      value: million.heapBytes / million.agents,
      unit: "B",
    },
  );
  const calls = options.quick ? 2 : 5;
  rows.push(await swarm(10_000, calls, options.quick ? 1 : 3));
  return rows;
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(m.name.padEnd(70), Number(m.value.toPrecision(4)), m.unit);
  }
}
