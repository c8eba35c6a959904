/**
 * The Simulation (issue 17): the cost of an empty step with 4 worker
 * containers; steps per second with 10,000 agents in 4 workers where every
 * agent calls a random peer each step, as a ratio to the same calls made
 * without a simulation; and the same simulation driven by `setTimeAll` plus a
 * real-time pause, for comparison.
 *
 * Run alone: `deno run -A bench/simulation_bench.ts [--quick]`.
 *
 * @module
 */

import { Agent, type Container, Simulation, spawnWorkerContainer } from "../agent/mod.ts";
import { Container as MasterContainer } from "../agent/container.ts";
import type { ContainerHandle } from "../agent/spawn.ts";
import { setTimeAll } from "../agent/manager.ts";
import { expose } from "../rpc/expose.ts";
import type { RemoteOf } from "../rpc/proxy.ts";
import { type Measurement, summarize } from "./measure.ts";
import type { BenchOptions } from "./net_bench.ts";

const TCP = "tcp://127.0.0.1:0";
const START = "2016-01-01T00:00:00Z";
const GROUP = "simulation";
const SPEC = `${import.meta.url}#Swarm`;

/** Results of {@linkcode benchSimulation}, the figures the report shows. */
export interface SimulationBenchResult {
  /** Milliseconds per `step(t)` with 4 idle worker containers (median, min, max). */
  emptyStepMs: { value: number; min: number; max: number; runs: number };
  /** Milliseconds per step of `run()` when one agent per worker only sleeps 1 s each step. */
  timerStepMs: { value: number; min: number; max: number; runs: number };
  /** Agents and workers of the busy rows. */
  agents: number;
  workers: number;
  /** Steps per second of `Simulation.run` where every agent calls a random peer each step. */
  simulationStepsPerSecond: { value: number; min: number; max: number; runs: number };
  /** Rounds per second of the same calls without a simulation (all agents call at once). */
  plainRoundsPerSecond: { value: number; min: number; max: number; runs: number };
  /** `simulationStepsPerSecond / plainRoundsPerSecond`, per repetition (goal >= 0.5). */
  ratio: { value: number; min: number; max: number; runs: number };
  /** Steps per second driven by `setTimeAll` plus a real-time pause of `pauseMs`. */
  setTimeAllStepsPerSecond: { value: number; min: number; max: number; runs: number };
  /**
   * The shortest pause (ms, doubling from 5) after which every agent made its
   * call in every step (its call returned before the next `setTimeAll`).
   */
  pauseMs: number;
  /**
   * Calls that a receiver handled at another simulated time than the sender
   * sent them, with that pause: `setTimeAll` moves the workers one after the
   * other, so a call sent at `t` can reach a worker still at `t - 1`.
   */
  lateCalls: number;
}

/** One worker's agents: they call random peers through the swarms of all workers. */
export class Swarm extends Agent {
  #states: Uint32Array;
  #swarms: RemoteOf<Swarm>[] = [];
  #perSwarm = 0;
  /** Calls received, and calls received at another time than they were sent. */
  received = 0;
  late = 0;

  /** `count` agents with seeds from `seed` on. */
  constructor(container: Container, count: number, seed: number) {
    super(container);
    this.#states = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.#states[i] = (seed + i) * 2654435761 || 1;
  }

  #random(i: number): number {
    let x = this.#states[i];
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#states[i] = x >>> 0;
    return this.#states[i] / 2 ** 32;
  }

  /** Connect to the swarms of all workers (this one included). */
  @expose
  async meet(addrs: string[], perSwarm: number): Promise<void> {
    this.#swarms = await Promise.all(addrs.map((addr) => this.container.connect<Swarm>(addr)));
    this.#perSwarm = perSwarm;
  }

  /** A call of agent `i`'s peer: count it, and whether it arrived at the time it was sent. */
  @expose
  poke(_agent: number, sentAt: number): void {
    this.received++;
    if (sentAt !== this.container.clock.time()) this.late++;
  }

  /** Agent `i` calls a random peer once. */
  #callOnce(i: number): Promise<unknown> {
    const r = Math.floor(this.#random(i) * this.#swarms.length * this.#perSwarm);
    const swarm = this.#swarms[Math.floor(r / this.#perSwarm)];
    return swarm.poke(r % this.#perSwarm, this.container.clock.time());
  }

  /** Sleep 1 s of clock time, `steps` times (a timer and nothing else). */
  @expose
  tick(steps: number): void {
    (async () => {
      for (let step = 0; step < steps; step++) await this.container.clock.sleep(1);
    })().catch((error) => console.error("ticker failed:", error));
  }

  /** Every agent calls a random peer once, all at once (no clock). */
  @expose
  async round(): Promise<void> {
    await Promise.all(Array.from(this.#states, (_, i) => this.#callOnce(i)));
  }

  /** Start every agent's loop: `steps` times, sleep 1 s of clock time, then call a random peer. */
  @expose
  start(steps: number): void {
    for (let i = 0; i < this.#states.length; i++) {
      (async () => {
        const clock = this.container.clock;
        for (let step = 0; step < steps; step++) {
          await clock.sleep(1);
          await this.#callOnce(i);
        }
      })().catch((error) => console.error("swarm agent failed:", error));
    }
  }

  /** `[received, late]` since the last call, then reset. */
  @expose
  counts(): [number, number] {
    const counts: [number, number] = [this.received, this.late];
    this.received = 0;
    this.late = 0;
    return counts;
  }
}

const stats = (samples: number[]) => ({ ...summarize(samples), runs: samples.length });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Measure the figures of {@linkcode SimulationBenchResult}. */
export async function benchSimulation(options: BenchOptions = {}): Promise<SimulationBenchResult> {
  const reps = 3;
  const workers = 4;
  const agents = 10_000;
  const steps = options.quick ? 5 : 20;
  const emptySteps = options.quick ? 50 : 200;
  const perSwarm = agents / workers;
  const master = await MasterContainer.create(TCP);
  const handles: ContainerHandle[] = await Promise.all(
    Array.from(
      { length: workers },
      () => spawnWorkerContainer(master, TCP, { clock: { external: START } }),
    ),
  );
  try {
    const managers = handles.map((handle) => handle.manager);
    const sim = new Simulation(managers);
    let now = 0;

    // An empty step: nothing scheduled anywhere.
    await sim.step(++now);
    const empty: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const start = performance.now();
      for (let i = 0; i < emptySteps; i++) await sim.step(++now);
      empty.push((performance.now() - start) / emptySteps);
    }

    // Steps of run(): one agent per worker that only sleeps 1 s each step.
    const tickers = await Promise.all(
      handles.map(async (handle) => (await handle.manager.spawn<Swarm>(SPEC, 0, 1))[0]!),
    );
    const timer: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      await Promise.all(tickers.map((ticker) => ticker.tick(emptySteps)));
      const start = performance.now();
      now = await sim.run(now + emptySteps);
      timer.push((performance.now() - start) / emptySteps);
    }

    const swarms = await Promise.all(
      handles.map(async (handle, w) => {
        const [swarm, addr] = await handle.manager.spawn<Swarm>(SPEC, perSwarm, 1 + w * perSwarm);
        return { swarm: swarm!, addr };
      }),
    );
    const addrs = swarms.map((swarm) => swarm.addr);
    await Promise.all(swarms.map(({ swarm }) => swarm.meet(addrs, perSwarm)));
    const counts = async () => {
      const all = await Promise.all(swarms.map(({ swarm }) => swarm.counts()));
      return all.reduce(([r, l], [r2, l2]) => [r + r2, l + l2], [0, 0]);
    };
    const plainRound = () => Promise.all(swarms.map(({ swarm }) => swarm.round()));
    const simulated = async (count: number) => {
      await Promise.all(swarms.map(({ swarm }) => swarm.start(count)));
      const until = now + count;
      now = await sim.run(until);
      if (now !== until) throw new Error(`Simulation.run reached ${now}, expected ${until}`);
    };
    // Warm up both (connections, JIT).
    await plainRound();
    await simulated(2);
    await counts();

    const plain: number[] = [];
    const simulatedRates: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      let start = performance.now();
      for (let i = 0; i < steps; i++) await plainRound();
      plain.push(steps / ((performance.now() - start) / 1000));
      start = performance.now();
      await simulated(steps);
      simulatedRates.push(steps / ((performance.now() - start) / 1000));
      const [received, late] = await counts();
      if (received !== 2 * steps * agents || late !== 0) {
        throw new Error(
          `simulation: ${received} calls, ${late} late; expected ${2 * steps * agents}`,
        );
      }
    }

    // setTimeAll plus a pause: find the shortest pause with which every call of a step
    // returns before the next setTimeAll (no agent falls behind), then measure.
    const driven = async (count: number, pauseMs: number) => {
      await Promise.all(swarms.map(({ swarm }) => swarm.start(count)));
      await pause(pauseMs);
      for (let i = 0; i < count; i++) {
        await setTimeAll(managers, ++now);
        await pause(pauseMs);
      }
      await pause(pauseMs);
      return await counts();
    };
    let pauseMs = 5;
    for (; pauseMs < 640; pauseMs *= 2) {
      const [received] = await driven(3, pauseMs);
      if (received === 3 * agents) break;
      // Let the late agents finish their loops before the next try.
      now = Math.max(now, await sim.run(now + 10));
      await counts();
    }
    const setTimeAllRates: number[] = [];
    let lateCalls = 0;
    for (let rep = 0; rep < reps; rep++) {
      const start = performance.now();
      await Promise.all(swarms.map(({ swarm }) => swarm.start(steps)));
      await pause(pauseMs);
      for (let i = 0; i < steps; i++) {
        await setTimeAll(managers, ++now);
        await pause(pauseMs);
      }
      setTimeAllRates.push(steps / ((performance.now() - start) / 1000));
      await pause(pauseMs);
      lateCalls += (await counts())[1];
      now = Math.max(now, await sim.run(now + 10));
      await counts();
    }

    return {
      emptyStepMs: stats(empty),
      timerStepMs: stats(timer),
      agents,
      workers,
      simulationStepsPerSecond: stats(simulatedRates),
      plainRoundsPerSecond: stats(plain),
      ratio: stats(simulatedRates.map((rate, i) => rate / plain[i])),
      setTimeAllStepsPerSecond: stats(setTimeAllRates),
      pauseMs,
      lateCalls,
    };
  } finally {
    await Promise.all(handles.map((handle) => handle.close()));
    await master.shutdown();
  }
}

/** The "simulation" rows of the bench report. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const r = await benchSimulation(options);
  const row = (
    name: string,
    unit: string,
    s: { value: number; min: number; max: number; runs: number },
  ): Measurement => ({ group: GROUP, name, unit, ...s });
  const busy = `${r.agents} agents in ${r.workers} workers, each calls a random peer`;
  return [
    row(`empty step, ${r.workers} worker containers (goal <= 2 ms)`, "ms", r.emptyStepMs),
    row(`step of run() to one timer in each of ${r.workers} workers`, "ms", r.timerStepMs),
    row(`Simulation.run, ${busy}`, "steps/s", r.simulationStepsPerSecond),
    row(`same calls without a simulation`, "rounds/s", r.plainRoundsPerSecond),
    row(`Simulation / plain calls (goal >= 0.5)`, "ratio", r.ratio),
    row(
      `setTimeAll + ${r.pauseMs} ms pause (${r.lateCalls} calls handled at the wrong time)`,
      "steps/s",
      r.setTimeAllStepsPerSecond,
    ),
  ];
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(
      m.name.padEnd(72),
      m.value.toFixed(3),
      `(${m.min?.toFixed(3)}..${m.max?.toFixed(3)})`,
      m.unit,
    );
  }
}
