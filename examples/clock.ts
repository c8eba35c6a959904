/**
 * How to use the ExternalClock: a simulator (here a driver task) sets the
 * container's time; agents sleep on `this.container.clock` and wake when the
 * simulated time reaches their deadline, however fast the simulation runs.
 *
 * Run: `deno run -A examples/clock.ts`
 *
 * @module
 */

import { Agent, Container, ExternalClock } from "@aiomas/aiomas";

class Sleeper extends Agent {
  async run(): Promise<void> {
    const clock = this.container.clock;
    for (let i = 0; i < 3; i++) {
      await clock.sleep(60); // one simulated minute
      console.log(`${this}`, "woke at", clock.utcnow().toISOString());
    }
  }
}

/** Advance the clock by `step` seconds per iteration until `until`. */
async function clockSetter(clock: ExternalClock, step: number, until: number): Promise<void> {
  while (clock.time() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1)); // let the agents run
    clock.setTime(clock.time() + step);
  }
}

const clock = new ExternalClock("2016-01-01T00:00:00+00:00");
const container = await Container.create({ hostname: "127.0.0.1", port: 0 }, { clock });
const agent = new Sleeper(container);
await Promise.all([agent.run(), clockSetter(clock, 30, 180)]);
await container.shutdown();
