/**
 * The aiomas guide's agent examples: a proactive "Hello, World!" agent, and a
 * Caller that calls a Callee's exposed method, first in the same container,
 * then in a second container.
 *
 * Run: `deno task example` (or `deno run -A examples/agents.ts`)
 *
 * @module
 */

import { Agent, Container, expose } from "@aiomas/aiomas";

/** A single, proactive agent. */
class HelloWorld extends Agent {
  constructor(container: Container, readonly name: string) {
    super(container);
  }

  async run(): Promise<void> {
    console.log(`${this.name} says:`);
    for (let i = 0; i < 3; i++) {
      await this.container.clock.sleep(0.05);
      console.log("Hello, World!");
    }
  }
}

/** Exposes one method to other agents. */
class Callee extends Agent {
  /** Return a lot of spam. */
  @expose
  spam(times: number): string {
    return "spam".repeat(times);
  }
}

/** Calls the Callee. */
class Caller extends Agent {
  async run(calleeAddr: string): Promise<void> {
    console.log(`${this}`, "connecting to", calleeAddr);
    const callee = await this.container.connect<Callee>(calleeAddr);
    console.log(`${this}`, "connected to", `${callee}`);
    const result = await callee.spam(3);
    console.log(`${this}`, "got", result);
  }
}

const container = await Container.create({ hostname: "127.0.0.1", port: 0 });
await new HelloWorld(container, "Monty").run();

// Many agents, one container.
const callee = new Callee(container);
const caller = new Caller(container);
await caller.run(callee.addr);

// Several containers: the caller's container opens one connection to the other.
const other = await Container.create({ hostname: "127.0.0.1", port: 0 });
const remoteCallee = new Callee(other);
await caller.run(remoteCallee.addr);

await container.shutdown();
await other.shutdown();
