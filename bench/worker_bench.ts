/**
 * Containers on more cores: agent calls between a master and a worker
 * container and between two worker containers (sequential and 256 in
 * flight), and CPU-bound agents spread over two worker containers versus all
 * in the master's container.
 *
 * Run alone: `deno run -A bench/worker_bench.ts [--quick]`.
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { spawnWorkerContainer } from "../agent/spawn.ts";
import { expose } from "../rpc/expose.ts";
import type { Remote } from "../rpc/proxy.ts";
import { inFlight, interleave, type Measurement, summarize, type Workload } from "./measure.ts";
import { type BenchOptions, effort, IN_FLIGHT } from "./net_bench.ts";

const TCP = "tcp://127.0.0.1:0";
const GROUP = "workers";
/** This module as a spawn spec prefix: the workers import {@linkcode BenchAgent} from it. */
const SPEC = `${import.meta.url}#BenchAgent`;

/** Pure CPU work: `iterations` rounds of an integer hash; returns the hash. */
export function crunch(iterations: number): number {
  let x = 0x9e3779b9;
  for (let i = 0; i < iterations; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x85ebca6b) + i | 0;
  }
  return x;
}

/** The agent the benchmark spawns in worker containers (and in the master's). */
export class BenchAgent extends Agent {
  #peers = new Map<string, Remote<BenchAgent>>();

  /** Return `value`. */
  @expose
  echo(value: unknown): unknown {
    return value;
  }

  /** Burn CPU for `iterations` rounds of {@linkcode crunch}. */
  @expose
  burn(iterations: number): number {
    return crunch(iterations);
  }

  /** Call `echo` on the agent at `peer` `count` times, `window` in flight; elapsed ms. */
  @expose
  async callPeer(peer: string, count: number, window: number): Promise<number> {
    let proxy = this.#peers.get(peer);
    if (proxy === undefined) {
      proxy = await this.container.connect<BenchAgent>(peer);
      this.#peers.set(peer, proxy);
      await proxy.echo(0);
    }
    const start = performance.now();
    await inFlight(
      async (i) => {
        if (await proxy.echo(i) !== i) throw new Error("worker -> worker: wrong reply");
      },
      count,
      window,
    );
    return performance.now() - start;
  }
}

/** Iterations of {@linkcode crunch} that take about `ms` milliseconds here. */
function calibrate(ms: number): number {
  let iterations = 100_000;
  let estimate = 0;
  // The second pass runs optimized code, as the measured calls do.
  for (let pass = 0; pass < 2; pass++) {
    for (;;) {
      const start = performance.now();
      crunch(iterations);
      const took = performance.now() - start;
      if (took > 50) {
        estimate = Math.round(iterations * ms / took);
        break;
      }
      iterations *= 2;
    }
  }
  return estimate;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * The "workers" rows: calls/s master<->worker and worker<->worker,
 * sequential and 256 in flight; the time of 40 CPU-bound calls of ~20 ms
 * each on one container and on two worker containers, and their ratio.
 */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const rounds = 3;
  const sequential = options.quick ? 300 : 1_000;
  const pipelined = options.quick ? 5_000 : 20_000;
  const tasks = options.quick ? 20 : 40;
  const master = await Container.create(TCP);
  const workers = await Promise.all([
    spawnWorkerContainer(master, TCP),
    spawnWorkerContainer(master, TCP),
  ]);
  try {
    const rows: Measurement[] = [];
    const agents = await Promise.all(
      workers.map(async (worker) => {
        const [agent, addr] = await worker.manager.spawn<BenchAgent>(SPEC);
        return { agent: agent!, addr };
      }),
    );
    const [a, b] = agents;
    await a.agent.echo(0);
    const check = (i: number) => (reply: unknown) => {
      if (reply !== i) throw new Error(`master -> worker: wrong reply ${reply}, expected ${i}`);
    };
    const workloads: Workload[] = [];
    for (const window of [1, IN_FLIGHT]) {
      const mode = window === 1 ? "sequential" : `${window} in flight`;
      const common = {
        group: GROUP,
        unit: "calls/s",
        warmup: window === 1 ? sequential : pipelined,
        minCount: window,
      };
      workloads.push({
        ...common,
        name: `master -> worker, ${mode}`,
        run: (count) => inFlight((i) => a.agent.echo(i).then(check(i)), count, window),
      }, {
        ...common,
        name: `worker -> worker, ${mode}`,
        run: async (count) => void await a.agent.callPeer(b.addr, count, window),
      });
    }
    rows.push(...await interleave(workloads, effort(options)));

    // CPU-bound: `tasks` calls of ~20 ms, all in flight at once.
    const iterations = calibrate(20);
    const local = new BenchAgent(master);
    const localProxy = await master.connect<BenchAgent>(local.addr);
    const burnAll = (targets: Remote<BenchAgent>[]) =>
      timed(() =>
        Promise.all(
          Array.from({ length: tasks }, (_, i) => targets[i % targets.length].burn(iterations)),
        )
      );
    const ones: number[] = [];
    const twos: number[] = [];
    for (let round = 0; round < rounds; round++) {
      ones.push(await burnAll([localProxy]) / 1000);
      twos.push(await burnAll([a.agent, b.agent]) / 1000);
    }
    const cpu = (name: string, samples: number[], unit = "s"): Measurement => ({
      group: GROUP,
      name,
      unit,
      ...summarize(samples),
      runs: samples.length,
    });
    rows.push(
      cpu(`CPU-bound ${tasks} x 20 ms, 1 container`, ones),
      cpu(`CPU-bound ${tasks} x 20 ms, 2 worker containers`, twos),
      cpu(
        "CPU-bound, 2 workers / 1 container (goal <= 0.6)",
        twos.map((two, i) => two / ones[i]),
        "ratio",
      ),
    );
    return rows;
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
    await master.shutdown();
  }
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    const value = m.unit === "calls/s" ? Math.round(m.value) : m.value.toFixed(3);
    console.log(m.name.padEnd(52), value, m.unit);
  }
}
