/**
 * One simulated day of 1,000 households in 4 worker containers and a grid
 * operator in the master container, stepped by a `Simulation`
 * (docs/simulation.md).
 *
 * Every 15 simulated minutes each household reports its consumption of the
 * last interval to the grid operator, which answers with the price for the
 * next one: high after an interval whose total load was above a limit. The
 * households use less when the price is high. Run it twice: the figures are
 * the same, because every household draws from its own seeded generator and
 * the operator only sums integers.
 *
 * Run: `deno run -A examples/simulation.ts`
 *
 * @module
 */

import {
  Agent,
  type Container,
  type ContainerHandle,
  Simulation,
  spawnWorkerContainer,
} from "@aiomas/aiomas/agent";
import { Container as MasterContainer } from "@aiomas/aiomas/agent";
import { ExternalClock } from "@aiomas/aiomas/clocks";
import { expose } from "@aiomas/aiomas/rpc";

const START = "2016-01-01T00:00:00Z";
const INTERVAL = 15 * 60;
const HOUSEHOLDS = 1000;
const WORKERS = 4;
/** Above this load in an interval (Wh), the next interval's price is high. */
const LIMIT_WH = 160_000;
const PRICE_LOW = 30;
const PRICE_HIGH = 45;

/** The grid operator: sums the reports per interval and sets the price. */
export class GridOperator extends Agent {
  /** Total consumption in Wh by the interval's end time. */
  readonly load = new Map<number, number>();

  /** A household used `wh` Wh in the interval ending now; returns the next interval's price. */
  @expose
  report(wh: number): number {
    const now = this.container.clock.time();
    this.load.set(now, (this.load.get(now) ?? 0) + wh);
    // The previous interval is complete: the Simulation stepped to now only after it was.
    return (this.load.get(now - INTERVAL) ?? 0) > LIMIT_WH ? PRICE_HIGH : PRICE_LOW;
  }
}

/** A household with a daily load profile and its own random generator. */
export class Household extends Agent {
  #state: number;

  /** Start consuming: report to the grid operator at `gridAddr` every interval. */
  constructor(container: Container, seed: number, gridAddr: string) {
    super(container);
    this.#state = seed >>> 0 || 1;
    this.#live(gridAddr).catch((error) => console.error(`${this} failed:`, error));
  }

  #random(): number {
    let x = this.#state; // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 2 ** 32;
  }

  async #live(gridAddr: string): Promise<void> {
    const clock = this.container.clock;
    const grid = await this.container.connect<GridOperator>(gridAddr);
    let price = PRICE_LOW;
    while (true) {
      await clock.sleep(INTERVAL);
      const hour = clock.utcnow().getUTCHours();
      const evening = hour >= 17 && hour < 22 ? 2.5 : hour >= 7 && hour < 17 ? 1.2 : 0.6;
      const wh = Math.round(100 * evening * (0.5 + this.#random()) * (price > PRICE_LOW ? 0.7 : 1));
      price = await grid.report(wh);
    }
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const master = await MasterContainer.create("tcp://127.0.0.1:0", {
    clock: new ExternalClock(START),
  });
  const grid = new GridOperator(master);
  const spec = `${import.meta.url}#Household`;
  const workers: ContainerHandle[] = await Promise.all(
    Array.from(
      { length: WORKERS },
      () => spawnWorkerContainer(master, "tcp://127.0.0.1:0", { clock: { external: START } }),
    ),
  );
  try {
    await Promise.all(workers.map((worker, w) =>
      Promise.all(
        Array.from(
          { length: HOUSEHOLDS / WORKERS },
          (_, i) => worker.manager.spawn(spec, 1 + w * HOUSEHOLDS + i, grid.addr),
        ),
      )
    ));
    const sim = new Simulation([master, ...workers.map((worker) => worker.manager)]);
    const end = await sim.run(24 * 3600);

    const load = [...grid.load.entries()].sort(([a], [b]) => a - b);
    const total = load.reduce((sum, [, wh]) => sum + wh, 0);
    const [peakAt, peakWh] = load.reduce((best, entry) => entry[1] > best[1] ? entry : best);
    const high = load.filter(([, wh]) => wh > LIMIT_WH).length;
    const time = (t: number) => new Date(Date.parse(START) + t * 1000).toISOString().slice(11, 16);
    console.log(`${HOUSEHOLDS} households in ${WORKERS} workers, ${load.length} intervals`);
    console.log(`simulated until ${time(end)} of the next day`);
    console.log(`energy: ${total / 1000} kWh`);
    console.log(`peak: ${(peakWh * 4) / 1000} kW in the interval ending ${time(peakAt)}`);
    console.log(`intervals above the limit: ${high}`);
    console.error(`(took ${((performance.now() - began) / 1000).toFixed(1)} s of real time)`);
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
    await master.shutdown();
  }
}

if (import.meta.main) await main();
