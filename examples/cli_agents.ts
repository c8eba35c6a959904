/**
 * Agents to serve with the command line (see the README's "Command line"
 * section):
 *
 * ```sh
 * deno task cli serve tcp://127.0.0.1:5555 --agent ./examples/cli_agents.ts#Calculator --count 2
 * deno task cli call tcp://127.0.0.1:5555/1 add 1 2            # 3
 * deno task cli call tcp://127.0.0.1:5555/1 memory/store 42    # 42
 * deno task cli call tcp://127.0.0.1:5555/1 greet Monty --kw greeting=Hi
 * ```
 *
 * @module
 */

import { Agent, expose } from "@aiomas/aiomas";

/** A sub-service: reached with the method path `memory/<name>`. */
export class Memory {
  #value: unknown = null;

  /** Remember `value` and return it. */
  @expose
  store(value: unknown): unknown {
    this.#value = value;
    return value;
  }

  /** The value last stored (`null` at first). */
  @expose
  recall(): unknown {
    return this.#value;
  }
}

/** A calculator agent. */
export class Calculator extends Agent {
  /** The calculator's memory, a sub-service. */
  @expose
  memory: Memory = new Memory();

  /** Add two numbers. */
  @expose
  add(a: number, b: number): number {
    return a + b;
  }

  /** Divide `a` by `b`; dividing by zero raises a `RangeError` at the caller. */
  @expose
  div(a: number, b: number): number {
    if (b === 0) throw new RangeError("division by zero");
    return a / b;
  }

  /** Greet someone; the greeting is a keyword argument (`--kw greeting=Hi`). */
  @expose
  greet(name: string, kwargs: { greeting?: string } = {}): string {
    return `${kwargs.greeting ?? "Hello"}, ${name}!`;
  }

  /** The container clock's current date. */
  @expose
  now(): Date {
    return this.container.clock.utcnow();
  }
}

export default Calculator;
