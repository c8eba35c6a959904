/**
 * {@linkcode Agent}: the base class of everything that lives in a container
 * and is called by other agents.
 *
 * @module
 */

import type { Container } from "./container.ts";

/**
 * Base class for agents. The constructor registers the agent with its
 * container, which assigns its id (`"0"`, `"1"`, ... in creation order, or the
 * given `name`). Subclasses mark the methods other agents may call with
 * `@expose`.
 *
 * @example
 * ```ts
 * import { Agent, Container, expose } from "@aiomas/aiomas";
 *
 * class Greeter extends Agent {
 *   @expose
 *   greet(name: string): string {
 *     return `Hello, ${name}! I am ${this.addr}`;
 *   }
 * }
 * const container = await Container.create({ hostname: "127.0.0.1", port: 0 });
 * const greeter = new Greeter(container);
 * const proxy = await container.connect<Greeter>(greeter.addr);
 * console.log(await proxy.greet("Monty"));
 * await container.shutdown();
 * ```
 */
export class Agent {
  /** The container this agent lives in. */
  readonly container: Container;
  /** The agent's id in its container (`"0"`, `"1"`, ... or its name). */
  readonly aid: string;

  /** Register the agent with `container`, under `name` if given. */
  constructor(container: Container, name?: string) {
    this.container = container;
    this.aid = container.register(this, name);
  }

  /** The agent's address: the container's address plus its id, e.g. `tcp://127.0.0.1:5555/0`. */
  get addr(): string {
    return this.container.addr + this.aid;
  }

  /** A readable form: `Greeter('tcp://127.0.0.1:5555/0')`, as aiomas prints agents. */
  toString(): string {
    return `${this.constructor.name}('${this.addr}')`;
  }
}
